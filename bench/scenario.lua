-- scenario.lua - the one wrk script behind every HTTP scenario of bench/run.sh.
--
--   wrk -t1 -c32 -d10s --latency -s bench/scenario.lua URL -- MODE key=value...
--
-- MODE (the first argument):
--   get    path=/cache/ns?q= prefix="bench small" n=64
--          GETs path .. urlencode(prefix .. " " .. i) for i = 0..n-1, in turn
--   put    ns=benchput prefix="bench put" n=256 bytes=200 ttl=600
--          PUT /cache/<ns> {"q": prefix i, "ttl": ttl, "value": V}, V a JSON
--          object of exactly `bytes` bytes; the n queries rotate, so Redis
--          holds at most n keys
--   mixed  the get and put arguments together, plus put_every=10: every
--          put_every-th request is a PUT, the rest GET hits
--   mget   ns=bench200 prefix="bench small" n=64 items=20
--          POST /cache/<ns>/_mget {"items": [{"q": prefix i}, ...]} with
--          `items` consecutive queries of the n, starting at 0, 1, ... n-1
--          in turn (wrapping), so every call reads `items` keys
--
-- Every request is formatted once in init() and then only picked from a table,
-- so the load generator does the same small amount of work per request in
-- every scenario (the ceiling is driven with the same `get` shape as the
-- hits). done() prints one machine-readable line for run.sh:
--   BENCH requests=.. duration_us=.. non2xx=.. connect=.. read=.. write=..
--         timeout=.. p50_us=.. p99_us=.. p999_us=.. max_us=..

local reqs = {}
local puts = {}
local put_every = 0
local counter = 0

local function urlencode(s)
    return (s:gsub("[^%w%-%._~ ]", function(c)
        return string.format("%%%02X", string.byte(c))
    end):gsub(" ", "+"))
end

local function parse(args)
    local mode = args[1] or "get"
    local opt = {}
    for i = 2, #args do
        local k, v = args[i]:match("^([%w_]+)=(.*)$")
        if k then opt[k] = v end
    end
    return mode, opt
end

local function get_requests(opt)
    local out = {}
    local path = opt.path or "/"
    local n = tonumber(opt.n or "1")
    for i = 0, n - 1 do
        local p = path
        if opt.prefix then p = path .. urlencode(opt.prefix .. " " .. i) end
        if opt.suffix then p = p .. opt.suffix end
        out[#out + 1] = wrk.format("GET", p)
    end
    return out
end

local function put_requests(opt)
    local out = {}
    local ns = opt.ns or "benchput"
    local n = tonumber(opt.n_put or opt.n or "256")
    local bytes = tonumber(opt.bytes or "200")
    local ttl = tonumber(opt.ttl or "600")
    local prefix = opt.put_prefix or opt.prefix or "bench put"
    local headers = { ["Content-Type"] = "application/json" }
    for i = 0, n - 1 do
        -- value: {"id":i,"text":"xxx..."} of exactly `bytes` bytes
        local vhead = string.format('{"id":%d,"text":"', i)
        local pad = math.max(0, bytes - #vhead - 2)
        local value = vhead .. string.rep("x", pad) .. '"}'
        local body = string.format('{"q":"%s %d","ttl":%d,"value":%s}', prefix, i, ttl, value)
        out[#out + 1] = wrk.format("PUT", "/cache/" .. ns, headers, body)
    end
    return out
end

local function mget_requests(opt)
    local out = {}
    local ns = opt.ns or "bench200"
    local n = tonumber(opt.n or "64")
    local items = tonumber(opt.items or "20")
    local prefix = opt.prefix or "bench small"
    local headers = { ["Content-Type"] = "application/json" }
    for start = 0, n - 1 do
        local qs = {}
        for j = 0, items - 1 do
            qs[#qs + 1] = string.format('{"q":"%s %d"}', prefix, (start + j) % n)
        end
        local body = '{"items":[' .. table.concat(qs, ",") .. "]}"
        out[#out + 1] = wrk.format("POST", "/cache/" .. ns .. "/_mget", headers, body)
    end
    return out
end

function init(args)
    local mode, opt = parse(args)
    if mode == "get" then
        reqs = get_requests(opt)
    elseif mode == "put" then
        reqs = put_requests(opt)
    elseif mode == "mget" then
        reqs = mget_requests(opt)
    elseif mode == "mixed" then
        reqs = get_requests(opt)
        puts = put_requests(opt)
        put_every = tonumber(opt.put_every or "10")
    else
        error("scenario.lua: unknown mode " .. tostring(mode))
    end
end

function request()
    counter = counter + 1
    if put_every > 0 and counter % put_every == 0 then
        return puts[(counter / put_every) % #puts + 1]
    end
    return reqs[counter % #reqs + 1]
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d " ..
        "p50_us=%d p99_us=%d p999_us=%d max_us=%d\n",
        summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
        latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
