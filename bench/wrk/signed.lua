-- Replays pre-signed requests, each once: `wrk -tN ... -s signed.lua URL -- FILE N`.
--
-- FILE (written by bench_server.py): line 1 the path, line 2 the X-Api-Key, line 3 the
-- exact body bytes, then one line per request: "timestamp nonce signature". N is wrk's
-- thread count: thread k (status.lua numbers them from 1) takes every N-th line from the
-- k-th, so no two threads send the same nonce.
--
-- When the lines run out the first one is sent again: the service refuses the replayed
-- nonce (401), so an undersized file shows up as errors, never as throughput.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "status.lua")

local prepared = {}
local next_index = 1

function init(args)
   local file = assert(io.open(args[1], "r"))
   local path = file:read("*l")
   local access_key = file:read("*l")
   local body = file:read("*l")
   local every = tonumber(args[2] or "1")
   local take = id or 1
   local line_number = 0
   for line in file:lines() do
      if line_number % every == take - 1 then
         local timestamp, nonce, signature = line:match("^(%S+) (%S+) (%S+)$")
         prepared[#prepared + 1] = wrk.format("POST", path, {
            ["Host"] = wrk.headers["Host"],
            ["Content-Type"] = "application/json",
            ["X-Api-Key"] = access_key,
            ["X-Timestamp"] = timestamp,
            ["X-Nonce"] = nonce,
            ["X-Signature"] = signature,
         }, body)
      end
      line_number = line_number + 1
   end
   file:close()
   available = #prepared
end

function request()
   used = used + 1
   local prepared_request = prepared[next_index] or prepared[1]
   next_index = next_index + 1
   return prepared_request
end
