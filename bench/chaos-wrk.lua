-- wrk script of bench/chaos.py's soak: bench/wrk.lua (same requests file, same BENCH line),
-- paced. Every connection waits args[3] µs before each request, so c connections send about
-- c / (pause + latency) requests per second. wrk takes whole milliseconds: the fractions are
-- carried over, so the pause is right on average.
--
--   wrk ... -s bench/chaos-wrk.lua <url> -- <requests-file> <threads> <pause-us>

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "wrk.lua")

local base_init = init
local pause_ms, owed = 0, 0

function init(args)
  pause_ms = tonumber(args[3] or "0") / 1000
  base_init(args)
end

function delay()
  owed = owed + pause_ms
  local whole = math.floor(owed)
  owed = owed - whole
  return whole
end
