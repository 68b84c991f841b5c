-- Shared by plain.lua and signed.lua (loaded with dofile): counts answers outside 2xx per
-- thread and prints one machine-readable line at the end for bench_server.py.
--
-- wrk itself counts only 4xx/5xx as errors; a 3xx or 1xx would pass as throughput, so every
-- status is looked at here.

non2xx = 0
used = 0      -- requests built (signed.lua: pre-signed ones taken)
available = 0 -- pre-signed requests loaded (0 = not a replay)

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("id", #threads)
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
   end
end

function done(summary, latency, requests)
   local counted, built, loaded = 0, 0, 0
   for _, thread in ipairs(threads) do
      counted = counted + thread:get("non2xx")
      built = built + thread:get("used")
      loaded = loaded + thread:get("available")
   end
   local errors = summary.errors
   io.write(string.format(
      "wrk-result duration_us=%d requests=%d non2xx=%d connect=%d read=%d write=%d "
         .. "timeout=%d status=%d used=%d available=%d\n",
      summary.duration, summary.requests, counted, errors.connect, errors.read,
      errors.write, errors.timeout, errors.status, built, loaded))
end
