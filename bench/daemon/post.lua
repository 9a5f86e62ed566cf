-- post.lua: wrk script for bench/daemon/run.sh and mdes.sh. Posts the
-- requests of a JSON-lines file (one per line) to PATH (default
-- /v1/decisions), each thread cycling through all of them from its own
-- starting point, and prints one RESULT line with throughput inputs and
-- latency percentiles (microseconds).
--
--   wrk ... -s post.lua http://127.0.0.1:PORT -- requests.jsonl [PAUSE_MS [PATH [fresh-ids]]]
--
-- With PAUSE_MS each connection waits that long after each response
-- before its next request: the offered load is then about
-- connections * 1000 / PAUSE_MS requests per second whatever the server,
-- so two servers' latencies can be compared at the same load.
-- With "fresh-ids" each request gets a "requestId" of its own (MDES's
-- authorizeService answers a repeated requestId from its idempotency
-- store: every request must be decided).

local reqs = {}
local i = 0
local pause = 0
local path = "/v1/decisions"
local fresh = false
local headers = { ["Content-Type"] = "application/json" }
local n = 0
counter = 0

-- Globals: setup() runs in wrk's main Lua state, init() and request() in
-- each thread's own state, which gets `tid` from setup.
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  local file = args[1] or "requests.jsonl"
  path = args[3] or path
  fresh = args[4] == "fresh-ids"
  for line in io.lines(file) do
    if #line > 0 then
      reqs[#reqs + 1] = fresh and line or wrk.format("POST", path, headers, line)
    end
  end
  if #reqs == 0 then
    error("no requests in " .. file)
  end
  i = (tonumber(tid) or 0) * 997 % #reqs
  pause = tonumber(args[2]) or 0
end

function delay()
  return pause
end

function request()
  i = i % #reqs + 1
  if not fresh then
    return reqs[i]
  end
  n = n + 1
  local body = reqs[i]:gsub('"requestId":"[^"]*"', '"requestId":"b' .. tostring(tid) .. "-" .. n .. '"', 1)
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d socket_errors=%d non2xx=%d p50_us=%d p99_us=%d p999_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
