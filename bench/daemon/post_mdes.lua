-- post_mdes.lua: wrk script for bench/daemon/mdes.sh. Posts the MDES
-- authorizeService requests of a JSON-lines file (one per line, each with
-- its own encrypted payload) to /mdes/authorizeService, each with a
-- requestId of its own (so none is answered from the idempotency store:
-- every request is decrypted, looked up and decided), and prints the
-- RESULT line of post.lua.
--
--   wrk ... -s post_mdes.lua http://127.0.0.1:PORT -- mdes.jsonl [PAUSE_MS]

local reqs = {}
local i = 0
local n = 0
local pause = 0
local headers = { ["Content-Type"] = "application/json" }
counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      reqs[#reqs + 1] = line
    end
  end
  if #reqs == 0 then
    error("no requests in " .. args[1])
  end
  i = (tonumber(tid) or 0) * 997 % #reqs
  pause = tonumber(args[2]) or 0
end

function delay()
  return pause
end

function request()
  i = i % #reqs + 1
  n = n + 1
  local body = reqs[i]:gsub('"requestId":"[^"]*"', '"requestId":"b' .. tostring(tid) .. "-" .. n .. '"', 1)
  return wrk.format("POST", "/mdes/authorizeService", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d socket_errors=%d non2xx=%d p50_us=%d p99_us=%d p999_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
