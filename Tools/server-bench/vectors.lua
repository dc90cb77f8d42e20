-- wrk script: POST /v1/vectors for a card and a merchant in one snapshot.
local token = os.getenv("TOKEN")
local counter = 0
function request()
    counter = counter + 1
    local body = string.format('{"entities":[{"entity":"card","key":"card_%d"},{"entity":"merchant","key":"m_%d"}]}',
        counter % 50, counter % 10)
    return wrk.format("POST", "/v1/vectors",
        { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end
