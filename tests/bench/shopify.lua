-- shopify.lua — wrk script: signed Shopify orders/create deliveries.
--
--   wrk ... -s tests/bench/shopify.lua URL -- DATAFILE RUN_PREFIX THREADS [START]
--
-- DATAFILE comes from gen_payloads.py: "<base64 hmac>\t<body>" per line.
-- Each thread loads its own share of the lines and cycles through it from
-- index START (so a measured run can carry on after its warm-up);
-- every request carries X-Shopify-Webhook-Id = RUN_PREFIX-<thread>-<n>, so
-- each one is a new delivery (never a duplicate) with a precomputed
-- signature. done() prints one machine-readable line, "BENCH_JSON {...}",
-- that run.py parses (latencies in microseconds).

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  local file = args[1] or error("usage: -- DATAFILE RUN_PREFIX THREADS")
  local nthreads = tonumber(args[3] or "1")
  prefix = (args[2] or "bench") .. "-" .. tid .. "-"
  -- Thread k takes lines k, k + THREADS, ...: the threads never send the
  -- same order, and each holds only its share in memory.
  sigs, bodies = {}, {}
  local lineno = 0
  for line in io.lines(file) do
    if lineno % nthreads == tid - 1 then
      local tab = line:find("\t", 1, true)
      if tab then
        sigs[#sigs + 1] = line:sub(1, tab - 1)
        bodies[#bodies + 1] = line:sub(tab + 1)
      end
    end
    lineno = lineno + 1
  end
  n = #bodies
  if n == 0 then error("no payloads in " .. file .. " for thread " .. tid) end
  idx = (tonumber(args[4] or "0") or 0) % n
  sent = 0
  headers = {
    ["Content-Type"] = "application/json",
    ["X-Shopify-Topic"] = "orders/create",
    ["X-Shopify-Shop-Domain"] = "bench.myshopify.com",
    ["X-Shopify-Api-Version"] = "2024-04",
  }
end

function request()
  idx = idx + 1
  if idx > n then idx = 1 end
  sent = sent + 1
  headers["X-Shopify-Hmac-Sha256"] = sigs[idx]
  headers["X-Shopify-Webhook-Id"] = prefix .. sent
  return wrk.format("POST", nil, headers, bodies[idx])
end

function done(summary, latency, requests)
  local total, least, each = 0, nil, {}
  for _, t in ipairs(threads) do
    local s = tonumber(t:get("sent")) or 0
    total = total + s
    each[#each + 1] = string.format("%d", s)
    if least == nil or s < least then least = s end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"sent":%d,"least_sent_per_thread":%d,"sent_per_thread":[%s]}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean,
    total, least or 0, table.concat(each, ",")))
end
