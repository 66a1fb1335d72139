-- wrk script: the front desk's today board and the nurse's results worklist, in turn,
-- each with its own logged-in session cookie (made by run_load.py).
-- Counts every answer that is not a 200 (a redirect to the login page is an error here).
local threads = {}
local paths = {
  { path = "/today/", cookie = os.getenv("FRONTDESK_COOKIE") },
  { path = "/results/", cookie = os.getenv("NURSE_COOKIE") },
}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  n = 0
  bad = 0
end

function request()
  n = n + 1
  local p = paths[(n % #paths) + 1]
  return wrk.format("GET", p.path, { ["Cookie"] = p.cookie, ["X-Forwarded-Proto"] = "https" })
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local errors = 0
  for _, t in ipairs(threads) do
    errors = errors + t:get("bad")
  end
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f p50_ms=%.1f p95_ms=%.1f p99_ms=%.1f non200=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    errors,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout))
end
