-- workload.lua — a deterministic Lua workload for real_lua: tables, strings, closures,
-- coroutines, gc cycles, string.format/gsub, table.sort/concat. Output must not depend on malloc.
local digest = 0
local function out(label, value)
  local text = label .. ": " .. tostring(value)
  for i = 1, #text do digest = (digest * 31 + text:byte(i)) % 2147483647 end
  print(text)
end

-- deterministic PRNG (LCG) so math.random's seed does not matter
local seed = 12345
local function rnd(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n
end

-- tables as arrays and hashes
local t = {}
for i = 1, 200000 do t[i] = i * 3 end
for i = 1, 200000, 2 do t[i] = nil end
local cnt, sum = 0, 0
for _, v in pairs(t) do cnt = cnt + 1; sum = sum + v end
out("array", cnt .. " " .. sum)
local h = {}
for i = 1, 100000 do h["k" .. i] = { i, tostring(i), i % 7 == 0 } end
local hs = 0
for k, v in pairs(h) do if v[3] then hs = hs + v[1] end end
out("hash", hs)

-- sorting
local arr = {}
for i = 1, 100000 do arr[i] = rnd(1000000) end
table.sort(arr)
out("sorted", arr[1] .. " " .. arr[50000] .. " " .. arr[100000])
local recs = {}
for i = 1, 30000 do recs[i] = { name = "n" .. rnd(5000), v = rnd(100) } end
table.sort(recs, function(a, b) if a.v ~= b.v then return a.v < b.v end return a.name < b.name end)
out("records", recs[1].name .. " " .. recs[30000].name)

-- strings
local parts = {}
for i = 1, 50000 do parts[#parts + 1] = string.format("%05d:%s", i, string.rep("ab", i % 20)) end
local s = table.concat(parts, ",")
out("concat len", #s)
local replaced, n = s:gsub("ab", "X")
out("gsub", n .. " " .. #replaced)
local words = 0
for _ in s:gmatch("%d+") do words = words + 1 end
out("gmatch", words)
local acc = ""
for i = 1, 5000 do acc = acc .. string.char(65 + i % 26) end
out("acc", acc:sub(-20) .. " " .. acc:upper():lower():len())

-- closures and coroutines
local fs = {}
for i = 1, 20000 do fs[i] = function(x) return x + i end end
local cs = 0
for i = 1, #fs do cs = cs + fs[i](1) end
out("closures", cs)
local function producer(n)
  return coroutine.wrap(function()
    for i = 1, n do coroutine.yield(string.rep("z", i % 100)) end
  end)
end
local total = 0
for _ = 1, 20 do
  for v in producer(5000) do total = total + #v end
end
out("coroutines", total)

-- garbage: cycles and weak tables
for round = 1, 5 do
  local nodes = {}
  for i = 1, 30000 do nodes[i] = { id = i } end
  for i = 1, 30000 do nodes[i].next = nodes[(i % 30000) + 1] end
  local weak = setmetatable({}, { __mode = "k" })
  for i = 1, 1000 do weak[nodes[i]] = i end
  nodes = nil
  collectgarbage("collect")
end
out("gc", collectgarbage("count") < 1e6)

-- integer and float math
local fib = { 0, 1 }
for i = 3, 90 do fib[i] = fib[i - 1] + fib[i - 2] end
out("fib", fib[90])
out("float", string.format("%.6f", math.sin(1) + math.sqrt(2)))

print("digest: " .. digest)
