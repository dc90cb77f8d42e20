-- wrk script: POST /v1/events with BATCH fresh authorization events per request (unique ids).
local threads = 0
function setup(thread)
    thread:set("tid", threads)
    threads = threads + 1
end

local counter = 0
local batch = tonumber(os.getenv("BATCH") or "1")
local ts = (os.time() - 60) * 1000
local run = os.getenv("RUN") or tostring(os.time())
local token = os.getenv("TOKEN")

function request()
    local events = {}
    for i = 1, batch do
        counter = counter + 1
        events[i] = string.format(
            '{"type":"authorization","txn_id":"w%s-%d-%d-%d","ts":%d,"card":"c%d","merchant":"m%d","amount":12.50,"country":"FR"}',
            run, batch, tid, counter, ts, counter % 1000, counter % 50)
    end
    local body = batch == 1 and events[1] or ("[" .. table.concat(events, ",") .. "]")
    return wrk.format("POST", "/v1/events",
        { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end
