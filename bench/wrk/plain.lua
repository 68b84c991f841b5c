-- The same request over and over: `wrk ... -s plain.lua URL -- METHOD [BODY_FILE]`.
-- The body file's first line is sent as a JSON body. Headers given with -H are kept.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "status.lua")

local prepared

function init(args)
   local method = args[1] or "GET"
   local body = nil
   local headers = {}
   for name, value in pairs(wrk.headers) do
      headers[name] = value
   end
   if args[2] then
      local file = assert(io.open(args[2], "r"))
      body = file:read("*l")
      file:close()
      headers["Content-Type"] = "application/json"
   end
   prepared = wrk.format(method, wrk.path, headers, body)
end

function request()
   used = used + 1
   return prepared
end
