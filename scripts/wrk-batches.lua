-- wrk script for scripts/bench-ingest.sh: POSTs valid batches with unique ids, spread over the
-- afnemers whose API keys are in the file named by the first argument. The second argument is
-- the number of berichten per batch. Text-only berichten of about 300 bytes of JSON each.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local function valid_bsns(n)
  local out, candidate = {}, 100000000
  while #out < n do
    local s, sum = tostring(candidate), 0
    for i = 1, 8 do sum = sum + (10 - i) * tonumber(s:sub(i, i)) end
    sum = sum - tonumber(s:sub(9, 9))
    if sum % 11 == 0 then table.insert(out, s) end
    candidate = candidate + 7
  end
  return out
end

function init(args)
  keys = {}
  for line in io.lines(args[1]) do table.insert(keys, line) end
  per_batch = tonumber(args[2])
  bsns = valid_bsns(997)
  math.randomseed(os.time() * 1000 + tid)
  run = math.random(0, 65535)
  statuses = {}
end

function request()
  counter = counter + 1
  local batch_id = string.format("%08x-%04x-4000-8000-%012x", tid, run, counter)
  local parts = {}
  for i = 1, per_batch do
    parts[i] = string.format(
      '{"berichtId":"%08x-%04x-4000-9%03x-%012x","berichtType":"AANSLAG","ontvanger":"%s",' ..
      '"onderwerp":"Uw aanslag inkomstenbelasting 2026","tekst":"Beste burger, in uw Berichtenbox ' ..
      'staat een nieuw bericht over uw aanslag. Log in om het te lezen. Met vriendelijke groet."}',
      tid, run, i % 4096, counter, bsns[(counter * per_batch + i) % #bsns + 1])
  end
  local body = '{"batchId":"' .. batch_id .. '","aanmaakDatum":"2026-11-28T10:00:00Z","berichten":[' ..
    table.concat(parts, ",") .. ']}'
  local key = keys[math.random(1, #keys)]
  return wrk.format("POST", "/v1/batches",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key }, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for code, n in pairs(s) do totals[code] = (totals[code] or 0) + n end
  end
  for code, n in pairs(totals) do io.write(string.format("status %d: %d\n", code, n)) end
  io.write(string.format("latency_ms p50 %.2f p99 %.2f p99.9 %.2f max %.2f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000))
end
