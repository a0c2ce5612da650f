-- alloc.lua — an allocation-heavy Lua workload for bench/compare: builds and drops tables,
-- strings and closures, concatenates and groups; prints a checksum independent of the allocator.
-- Run: lua5.4 alloc.lua [scale]
local scale = tonumber(arg[1]) or 8
local check = 0
local x = 12345

local function rand()
  x = (x * 1103515245 + 12345) % 2147483648
  return x
end

for round = 1, scale do
  local items = {}
  for i = 1, 60000 do
    local r = rand()
    items[i] = { id = i, key = "k" .. (r % 10007) .. "_" .. i, vals = { r % 7, r % 11, r % 13 } }
  end
  for i = 1, #items, 3 do items[i].key = items[i].key .. "!" .. string.rep("x", i % 40) end
  local groups = {}
  for _, it in ipairs(items) do
    local g = string.sub(it.key, 1, 4)
    local list = groups[g]
    if not list then list = {}; groups[g] = list end
    list[#list + 1] = it
  end
  local parts = {}
  for g, list in pairs(groups) do
    parts[#parts + 1] = g .. "=" .. #list
  end
  table.sort(parts)
  local text = table.concat(parts, ";")
  local n = 0
  for _ in string.gmatch(text, "[^;]+") do n = n + 1 end
  local adders = {}
  for i = 1, 20000 do adders[i] = function(v) return v + i + round end end
  local s = 0
  for i = 1, #adders, 7 do s = s + adders[i](items[i].vals[1]) end
  check = (check * 31 + #text + n + s) % 2147483647
  items, groups, parts, adders = nil, nil, nil, nil
  collectgarbage()
end
print(string.format("checksum %016x", check))
