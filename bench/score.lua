-- wrk script: POST a body template, with every entry id made unique, so each request is a new decision.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  local f = assert(io.open(args[1], "r"))
  template = f:read("*a")
  f:close()
  key = args[2]
  run = tostring(os.time())
  counter = 0
end

function request()
  counter = counter + 1
  local body = template:gsub("__ID__", "W" .. run .. "-" .. tid .. "-" .. counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end

function done(summary, latency, requests)
  io.write(string.format("requests %d, errors non-2xx %d, median %.2f ms, p99 %.2f ms\n",
    summary.requests, summary.errors.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
