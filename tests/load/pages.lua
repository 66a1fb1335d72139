-- wrk script: staff traffic on the real stack, each request with its role's logged-in
-- session cookie (made by run_load.py). MIX=heavy: the front desk's today board and the
-- nurse's results worklist, in turn (the two heaviest pages). MIX=staff (default): what
-- staff browsers send: each full page (the board, both results worklists, the day's
-- calendar) and the navigation counts every staff page loads after it (htmx), and the
-- front desk's patient searches (htmx POSTs with the CSRF token, as the search box sends).
-- Counts every answer that is not a 200 (a redirect to the login page is an error here).
local threads = {}
local desk, nurse, doctor = os.getenv("FRONTDESK_COOKIE"), os.getenv("NURSE_COOKIE"), os.getenv("PHYSICIAN_COOKIE")
local today = os.getenv("TODAY")
local function get(path, cookie)
  return { method = "GET", path = path, cookie = cookie }
end
local function search(term)
  return {
    method = "POST", path = "/patients/", cookie = desk .. "; " .. os.getenv("CSRF_COOKIE"),
    body = "q=" .. term, htmx = true,
  }
end
local mixes = {
  heavy = { get("/today/", desk), get("/results/", nurse) },
  staff = {
    get("/today/", desk), get("/today/counts/", desk),
    search("Thomp"), search("Th"),
    get("/results/", nurse), get("/today/counts/", nurse),
    get("/results/", doctor), get("/today/counts/", doctor),
    get("/calendar/?view=day&by=clinic&date=" .. today, desk), get("/today/counts/", desk),
  },
}
local paths = mixes[os.getenv("MIX") or "staff"]

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
  local headers = { ["Cookie"] = p.cookie, ["X-Forwarded-Proto"] = "https" }
  if p.method == "POST" then
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    headers["X-CSRFToken"] = os.getenv("CSRF_TOKEN")
    headers["Referer"] = os.getenv("ORIGIN") .. "/patients/"
  end
  if p.htmx then
    headers["HX-Request"] = "true"
  end
  return wrk.format(p.method, p.path, headers, p.body)
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
