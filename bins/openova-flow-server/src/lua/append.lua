#!lua
-- Appends one message to a flow atomically: assign the seq (a new epoch when the flow's meta is
-- gone), XADD it with id <seq>-0, trim the stream's oldest entries to the ring capacity and the
-- per-flow byte budget, fold it into the stored state, and PUBLISH it, so every replica sees one
-- order and one state per seq.
--
-- KEYS: meta (hash epoch, seq, at, bytes, state), log (stream), inst (flow instance JSON), nodes
-- (hash id -> node JSON), rels (hash natural key -> relationship JSON), sizes (hash 'i', 'n:'id,
-- 'r:'key -> what the engine charges for that item); all share the {flowId} hash tag.
-- ARGV: channel, kind, message JSON, ring capacity, ttl ms, max state items, flow id, byte
-- budget, bytes counted per entry besides its JSON, create ('1': a missing flow may be created;
-- otherwise the script answers {'new'} and writes nothing), state byte budget, the instance's
-- size, the items' sizes (comma-separated, in the order of the pairs below; the engine computed
-- them), then per kind (from ARGV[14]):
-- snapshot: instance JSON, items, node count, node pairs, relationship pairs;
-- upsert-flow: instance JSON; upsert-nodes / upsert-rels: (key, JSON) pairs;
-- delete-nodes: ids; delete-rels: relationship keys. The server decoded, validated and
-- de-duplicated the message; the script never parses a message.
-- Returns {'ok', epoch, seq}, {'full', items}, {'memfull', bytes} or {'new'}.
local meta, log, inst, nodes, rels, sizes_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local channel, kind, json = ARGV[1], ARGV[2], ARGV[3]
local capacity, ttl, max_items, flow = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]), ARGV[7]
local budget, overhead, create = tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10]
local state_budget, instance_size = tonumber(ARGV[11]), tonumber(ARGV[12])
local sizes = {}
for size in string.gmatch(ARGV[13], '%d+') do sizes[#sizes + 1] = tonumber(size) end
local first = 14

local epoch = redis.call('HGET', meta, 'epoch')
if not epoch and create ~= '1' then
  return {'new'}
end

-- The bound is checked before anything is written.
local items
if kind == 'snapshot' then
  items = tonumber(ARGV[first + 1])
else
  items = redis.call('HLEN', nodes) + redis.call('HLEN', rels)
  if kind == 'upsert-nodes' or kind == 'upsert-rels' then
    local hash = nodes
    if kind == 'upsert-rels' then hash = rels end
    for i = first, #ARGV, 2 do
      if redis.call('HEXISTS', hash, ARGV[i]) == 0 then items = items + 1 end
    end
  end
end
if items > max_items then
  return {'full', items}
end

-- The state's bytes, as the engine charges them, after the message (deletes only shrink it).
local function size_of(key)
  if not epoch then return 0 end
  return tonumber(redis.call('HGET', sizes_key, key) or '0')
end
local state = 0
if epoch then state = tonumber(redis.call('HGET', meta, 'state') or '0') end
local after = state
if kind == 'snapshot' then
  after = instance_size
  for _, size in ipairs(sizes) do after = after + size end
elseif kind == 'upsert-flow' then
  after = state + instance_size - size_of('i')
elseif kind == 'upsert-nodes' or kind == 'upsert-rels' then
  local prefix = 'n:'
  if kind == 'upsert-rels' then prefix = 'r:' end
  local k = 1
  for i = first, #ARGV, 2 do
    after = after + sizes[k] - size_of(prefix .. ARGV[i])
    k = k + 1
  end
end
if after > state_budget then
  return {'memfull', after}
end

local now = redis.call('TIME')
local seq
if not epoch then
  -- A flow without meta (new, deleted, expired or evicted) starts a new epoch with empty state,
  -- so ids from an earlier incarnation get a snapshot, never a wrong replay.
  epoch = now[1] .. string.format('%06d', tonumber(now[2]))
  redis.call('DEL', log, inst, nodes, rels, sizes_key)
  seq = 1
  redis.call('HSET', meta, 'epoch', epoch, 'seq', seq, 'bytes', 0)
else
  seq = redis.call('HINCRBY', meta, 'seq', 1)
end
-- The meta hash is also the flow's entry in every replica's listing: 'at' is the time of the
-- last append in Unix milliseconds.
redis.call('HSET', meta, 'at', now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000)))
local seq_text = string.format('%d', seq)
redis.call('XADD', log, seq_text .. '-0', 'm', json)
-- The stream holds what a replica's ring holds: at most `capacity` entries and `budget` bytes
-- (each entry counted as its JSON plus `overhead`, the frame around it). The newest entry always
-- fits (the server refuses a larger one), so the oldest go first until both bounds hold.
local bytes = redis.call('HINCRBY', meta, 'bytes', #json + overhead)
local count = redis.call('XLEN', log)
while count > capacity or bytes > budget do
  local oldest = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1]
  if not oldest then break end
  bytes = redis.call('HINCRBY', meta, 'bytes', -(#oldest[2][2] + overhead))
  redis.call('XDEL', log, oldest[1])
  count = count - 1
end

-- Every item's size is stored beside it, so a replace or delete takes off what it added.
local function put(hash, prefix, key, value, size)
  redis.call('HSET', hash, key, value)
  redis.call('HSET', sizes_key, prefix .. key, size)
end
local function drop(hash, prefix, key)
  if redis.call('HDEL', hash, key) == 1 then
    state = state - size_of(prefix .. key)
    redis.call('HDEL', sizes_key, prefix .. key)
  end
end
if kind == 'snapshot' then
  redis.call('DEL', nodes, rels, sizes_key)
  redis.call('HSET', sizes_key, 'i', instance_size)
  redis.call('SET', inst, ARGV[first])
  local node_count = tonumber(ARGV[first + 2])
  local first_rel = first + 3 + 2 * node_count
  local k = 1
  for i = first + 3, first_rel - 1, 2 do
    put(nodes, 'n:', ARGV[i], ARGV[i + 1], sizes[k])
    k = k + 1
  end
  for i = first_rel, #ARGV, 2 do
    put(rels, 'r:', ARGV[i], ARGV[i + 1], sizes[k])
    k = k + 1
  end
  state = after
elseif kind == 'upsert-flow' then
  redis.call('SET', inst, ARGV[first])
  redis.call('HSET', sizes_key, 'i', instance_size)
  state = after
elseif kind == 'upsert-nodes' or kind == 'upsert-rels' then
  local hash, prefix = nodes, 'n:'
  if kind == 'upsert-rels' then hash, prefix = rels, 'r:' end
  local k = 1
  for i = first, #ARGV, 2 do
    put(hash, prefix, ARGV[i], ARGV[i + 1], sizes[k])
    k = k + 1
  end
  state = after
elseif kind == 'delete-nodes' then
  local gone = {}
  for i = first, #ARGV do
    drop(nodes, 'n:', ARGV[i])
    gone[ARGV[i]] = true
  end
  -- Relationships touching a deleted node of this flow go too (no dangling edges).
  local all = redis.call('HGETALL', rels)
  for i = 1, #all, 2 do
    local rel = cjson.decode(all[i + 1])
    local from_here = rel.fromFlowId == nil or rel.fromFlowId == flow
    local to_here = rel.toFlowId == nil or rel.toFlowId == flow
    if (from_here and gone[rel.fromId]) or (to_here and gone[rel.toId]) then
      drop(rels, 'r:', all[i])
    end
  end
elseif kind == 'delete-rels' then
  for i = first, #ARGV do
    drop(rels, 'r:', ARGV[i])
  end
end
redis.call('HSET', meta, 'state', state)

for _, key in ipairs(KEYS) do
  redis.call('PEXPIRE', key, ttl)
end
redis.call('PUBLISH', channel, 'm ' .. epoch .. ' ' .. seq_text .. ' ' .. json)
return {'ok', epoch, seq}
