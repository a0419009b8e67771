-- wrk script: POSTs one fixed JSON body (BODY) with the headers wrk was given (-H), and
-- counts answers that are not a success: HTTP status other than 200, a JSON-RPC error, or
-- an MCP tool result with "isError":true. The count is printed with throughput and latency
-- percentiles on one "RESULT" line.
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/json"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
end

function response(status, headers, body)
  if status ~= 200 or body:find('"isError":true', 1, true) or body:find('"error":{', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + t:get("bad")
  end
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d bad=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), total,
    e.connect + e.read + e.write + e.timeout))
end
