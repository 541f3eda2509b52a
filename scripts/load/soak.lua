-- wrk script for scripts/soak.sh: alternates the 1 KB event ($WRK_BODY) and the 16 KB batch
-- ($WRK_BODY2) on every connection, so the soak exercises both buffer sizes.
local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end
local small = slurp(os.getenv("WRK_BODY"))
local large = slurp(os.getenv("WRK_BODY2"))
local path = wrk.path
local headers = { ["Content-Type"] = "application/json" }
local n = 0

function request()
  n = n + 1
  return wrk.format("POST", path, headers, (n % 2 == 0) and large or small)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"socket_errors":%d,"non2xx":%d,' ..
    '"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
end
