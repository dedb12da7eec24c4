-- wrk script for scripts/load-wrk: each wrk thread takes every n-th request of the file written
-- by interop/wrk-requests.js and sends each once; every answer that is not 200 with an ACK body
-- (and no `error`) is counted, and the counts are printed at the end.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  requests, next_request, reused, acked, other = {}, 0, 0, 0, 0
  local i = 0
  for line in io.lines(file) do
    if i % nthreads == id then
      local path, auth, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      requests[#requests + 1] = wrk.format("POST", path,
        { ["Content-Type"] = "application/json", ["Authorization"] = auth }, body)
    end
    i = i + 1
  end
end

function request()
  next_request = next_request + 1
  if next_request > #requests then
    -- Ran out: a repeat is a duplicate, answered as the first time, and is counted apart.
    next_request, reused = 1, reused + 1
  end
  return requests[next_request]
end

function response(status, headers, body)
  if status == 200 and body:find('"ACK"', 1, true) and not body:find('"error"', 1, true) then
    acked = acked + 1
  else
    other = other + 1
    if other <= 3 then
      io.stderr:write(string.format("not an ACK: %d %s\n", status, body))
    end
  end
end

function done(summary, latency, requests)
  local acked, other, reused = 0, 0, 0
  for _, t in ipairs(threads) do
    acked = acked + t:get("acked")
    other = other + t:get("other")
    reused = reused + t:get("reused")
  end
  io.write(string.format("ACKed %d, not ACKed %d, ACKed/s %.0f, file wrapped %d times\n",
    acked, other, acked / (summary.duration / 1e6), reused))
  io.write(string.format("latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
