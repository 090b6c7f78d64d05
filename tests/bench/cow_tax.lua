-- cow_tax.lua: the benchmark's Lua function (tests/bench/cow_tax.sh), run by fixtures/lua_fn.
-- Init builds a 300k-entry table (a cache of small records) and leaves the collector wherever
-- the allocation left it, as a real runtime's snapshot does: the request's own allocations
-- then drive the incremental GC through the heap, writing mark bits on nearly every page.
-- That is the copy-on-write tax's worst case: few bytes of work, every page written.
local N = 300000
local cache = {}
for i = 1, N do cache[i] = { id = i, name = "item" .. i } end

function handle(line)
  local n = math.tointeger(tonumber(line:match("%d+"))) or 1
  local parts = {}
  for i = 1, 2000 do parts[#parts + 1] = cache[(n * i) % N + 1].name .. ";" end
  local s = table.concat(parts)
  return string.format("%d %s %d", n, cache[n % N + 1].name, #s)
end
