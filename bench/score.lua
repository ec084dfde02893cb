-- wrk script: POST request bodies in turn, each with every `__ID__` replaced by a new entry id, so that each
-- request is a new decision (never a replay). Arguments after `--`: BODIES_FILE KEY [RUN_TAG], with one JSON body
-- per line (bench/bodies.py); the run tag (default: the time in seconds) keeps the ids of one wrk run apart from
-- another's. At the end it prints one line, `wrk-json {...}`, with the figures bench/http_load.py reads (times in
-- microseconds; `sent` counts the requests sent, answered in time or not).
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  templates = {}
  for line in io.lines(args[1]) do
    if #line > 0 then templates[#templates + 1] = line end
  end
  assert(#templates > 0, "no request body in " .. args[1])
  key = args[2]
  run = args[3] or tostring(os.time())
  counter = 0
end

function request()
  counter = counter + 1
  local template = templates[(counter + tid * 7919) % #templates + 1]  -- the threads start apart
  local body = template:gsub("__ID__", "W" .. run .. "-" .. tid .. "-" .. counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end

function done(summary, latency, requests)
  local e, sent = summary.errors, -1  -- wrk calls the first thread's request() once to check it, sending nothing
  for _, thread in ipairs(threads) do
    sent = sent + thread:get("counter")
  end
  io.write(string.format(
    'wrk-json {"sent": %d, "requests": %d, "duration_us": %d, "bytes": %d, "status_errors": %d, "connect_errors": %d, '
      .. '"read_errors": %d, "write_errors": %d, "timeouts": %d, "latency_us": {"p50": %d, "p90": %d, "p99": %d, '
      .. '"max": %d, "mean": %.1f}}\n',
    sent, summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
