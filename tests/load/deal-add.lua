-- wrk script: POST crm.deal.add with a JSON body, as an integration adding deals would.
-- wrk -t2 -c16 -d10s -s tests/load/deal-add.lua <webhook URL>crm.deal.add
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"fields": {"TITLE": "Deal %d", "OPPORTUNITY": %d, "STAGE_ID": "NEW"}}', n, n % 10000)
  return wrk.format(nil, nil, nil, body)
end
