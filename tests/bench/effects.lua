-- Bench workflow for effects: every order asks for EFFECTS generic posts
-- to the bare server; their answers come back as `posted` events.
local URL = "@URL@"
local EFFECTS = @EFFECTS@

return {
  order_created = function(ev)
    local order = orders.create(ev.order)
    for i = 1, EFFECTS do
      http.post { url = URL, json = { order = order.id, n = i }, on_success = "posted" }
    end
  end,
  posted = function(ev) end,
}
