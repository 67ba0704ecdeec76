-- The SDK's request mix for wrk: pushes with increasing payload ids over many sessions, a
-- page reload (initializeSession again) now and then, occasional identify, properties and
-- feedback, and a large FullSnapshot push every 40 pushes. Bodies are the real
-- highlight.run 10.7.5 requests (bench/payloads.py writes them to $BENCH_DIR with __SID__
-- and __PID__ placeholders) so footlight and nginx receive byte-for-byte the same traffic.
--
-- $BENCH_RATE (requests/s over all connections) paces the run for latency measurements.

local dir = os.getenv("BENCH_DIR")
local rate = tonumber(os.getenv("BENCH_RATE") or "0")
local connections = tonumber(os.getenv("BENCH_CONNECTIONS") or "1")
local thread_count = tonumber(os.getenv("BENCH_THREADS") or "1")
-- Each run starts its payload ids here, so a second run does not resend the first one's ids.
local pid_base = tonumber(os.getenv("BENCH_PID_BASE") or "0")
local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

local function read(name)
  local file = assert(io.open(dir .. "/" .. name, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end

-- A template split around its placeholders, so building a body is one concatenation.
local function template(name)
  local text = read(name)
  local parts, order = {}, {}
  local position = 1
  while true do
    local s, e, tag = text:find("__(%u%u%u)__", position)
    if not s then break end
    table.insert(parts, text:sub(position, s - 1))
    table.insert(order, tag)
    position = e + 1
  end
  table.insert(parts, text:sub(position))
  return {parts = parts, order = order}
end

local function fill(t, values)
  local out = {t.parts[1]}
  for i, tag in ipairs(t.order) do
    out[#out + 1] = values[tag]
    out[#out + 1] = t.parts[i + 1]
  end
  return table.concat(out)
end

function init(args)
  sessions = {}
  local index = 0
  for line in read("sessions.txt"):gmatch("[^\n]+") do
    if index % thread_count == thread_index then table.insert(sessions, line) end
    index = index + 1
  end
  small = {}
  for i = 1, 5 do small[i] = template("push-" .. i .. ".json") end
  large = template("push-large.json")
  others = {
    init = template("init.json"),
    identify = template("identify.json"),
    properties = template("properties.json"),
    feedback = template("feedback.json"),
  }
  next_pid = {}
  n, cursor = 0, 0
  built, pushes_built, ok, acked_pushes, failed = 0, 0, 0, 0, 0
  headers = {["Content-Type"] = "application/json", ["Accept"] = "*/*",
             ["Origin"] = "http://localhost:3000"}
end

function delay()
  if rate > 0 then return 1000 * connections / rate end
  return 0
end

function request()
  n = n + 1
  built = built + 1
  cursor = cursor % #sessions + 1
  local sid = sessions[cursor]
  local body
  if n % 53 == 0 then
    body = fill(others.init, {SID = sid})
  elseif n % 97 == 0 then
    body = fill(others.identify, {SID = sid})
  elseif n % 101 == 0 then
    body = fill(others.properties, {SID = sid})
  elseif n % 211 == 0 then
    body = fill(others.feedback, {SID = sid})
  else
    local pid = (next_pid[sid] or 0) + 1
    next_pid[sid] = pid
    pushes_built = pushes_built + 1
    -- Chosen by the count of pushes, not by payload id: the share of large pushes must not
    -- depend on how many pushes each session gets in a run (runs differ in length and rate).
    local t = (pushes_built % 40 == 1) and large or small[pushes_built % 5 + 1]
    body = fill(t, {SID = sid, PID = string.format("%d", pid_base + pid)})
  end
  return wrk.format("POST", "/", headers, body)
end

function response(status, headers, body)
  if status == 200 and not body:find('"errors"', 1, true) then
    ok = ok + 1
    if body:find('"pushSessionEvents"', 1, true) then acked_pushes = acked_pushes + 1 end
  else
    failed = failed + 1
    if failed <= 3 then io.stderr:write("bench: " .. status .. " " .. body:sub(1, 300) .. "\n") end
  end
end

function done(summary, latency, requests)
  local total = {built = 0, pushes_built = 0, ok = 0, acked_pushes = 0, failed = 0}
  for _, thread in ipairs(threads) do
    for key in pairs(total) do total[key] = total[key] + thread:get(key) end
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "built": %d, "pushes_built": %d, "ok": %d, ' ..
    '"acked_pushes": %d, "failed": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"max_us": %d}\n',
    summary.requests, summary.duration, total.built, total.pushes_built, total.ok,
    total.acked_pushes, total.failed,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
