-- post.lua: wrk script for bench/daemon/run.sh. Posts the requests of a
-- JSON-lines file (one per line) to /v1/decisions, each thread cycling
-- through all of them from its own starting point, and prints one RESULT
-- line with throughput inputs and latency percentiles (microseconds).
--
--   wrk ... -s post.lua http://127.0.0.1:PORT -- requests.jsonl [PAUSE_MS]
--
-- With PAUSE_MS each connection waits that long after each response
-- before its next request: the offered load is then about
-- connections * 1000 / PAUSE_MS requests per second whatever the server,
-- so two servers' latencies can be compared at the same load.

local reqs = {}
local i = 0
local pause = 0
counter = 0

-- Globals: setup() runs in wrk's main Lua state, init() and request() in
-- each thread's own state, which gets `tid` from setup.
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  local path = args[1] or "requests.jsonl"
  local headers = { ["Content-Type"] = "application/json" }
  for line in io.lines(path) do
    if #line > 0 then
      reqs[#reqs + 1] = wrk.format("POST", "/v1/decisions", headers, line)
    end
  end
  if #reqs == 0 then
    error("no requests in " .. path)
  end
  i = (tonumber(tid) or 0) * 997 % #reqs
  pause = tonumber(args[2]) or 0
end

function delay()
  return pause
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d socket_errors=%d non2xx=%d p50_us=%d p99_us=%d p999_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
