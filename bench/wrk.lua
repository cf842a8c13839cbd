-- wrk script of the oidc-gate benchmark (bench/load.py runs it).
--
--   wrk ... -s bench/wrk.lua <url> -- <requests-file> <threads>
--
-- The requests file holds one request per line: the line is its one extra header,
-- "Name: value" (an empty line: no extra header). Every request is formatted once in init();
-- request() hands them out in turn, so each scenario costs wrk the same per request whether it
-- repeats one header (one line) or sends a fresh token each time (one line per token).
-- With several threads, thread k sends lines k, k+T, k+2T, ...
-- done() prints one line "BENCH {json}" with the counts and latency percentiles (µs).

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

local requests = {}
local n = 0
local i = 0

local function format(line)
  local headers = {}
  for k, v in pairs(wrk.headers) do headers[k] = v end
  local name, value = line:match("^([^:]+):%s?(.*)$")
  if name then headers[name] = value end
  return wrk.format("GET", "/", headers)
end

function init(args)
  local path, nthreads = args[1], tonumber(args[2] or "1")
  local first
  local line_no = 0
  for line in io.lines(path) do
    first = first or line
    if line_no % nthreads == thread_index then
      n = n + 1
      requests[n] = format(line)
    end
    line_no = line_no + 1
  end
  if n == 0 then -- fewer lines than threads: this thread repeats the first one
    n = 1
    requests[1] = format(first or "")
  end
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return requests[i]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
