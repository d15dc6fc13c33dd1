-- wrk script of benchmarks/service_wrk.py: GET a 360° view per request, cycling customer ids.
-- Environment: BENCH_IDS (file, one customer id a line), BENCH_PATH (prefix, the id is appended),
-- BENCH_QUERY (appended after the id), BENCH_TOKEN (bearer token; empty: no Authorization header).
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do
  if #line > 0 then ids[#ids + 1] = line end
end
local prefix = os.getenv("BENCH_PATH") or "/api/v1/customers/"
local query = os.getenv("BENCH_QUERY") or ""
local token = os.getenv("BENCH_TOKEN") or ""
if #token > 0 then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local threads = {}
function setup(thread)
  thread:set("offset", #threads * 7919)
  table.insert(threads, thread)
end

local n = 0
function init(args)
  n = offset or 0
end

function request()
  n = n + 1
  return wrk.format("GET", prefix .. ids[(n % #ids) + 1] .. query)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean))
end
