#!lua
-- Appends one message to a flow atomically: assign the seq (a new epoch when the flow's meta is
-- gone), XADD it with id <seq>-0, trim the stream's oldest entries to the ring capacity and the
-- per-flow byte budget, fold it into the stored state, and PUBLISH it, so every replica sees one
-- order and one state per seq.
--
-- KEYS: meta (hash epoch, seq, at, bytes), log (stream), inst (flow instance JSON), nodes (hash
-- id -> node JSON), rels (hash natural key -> relationship JSON); all share the {flowId} hash tag.
-- ARGV: channel, kind, message JSON, ring capacity, ttl ms, max state items, flow id, byte
-- budget, bytes counted per entry besides its JSON, create ('1': a missing flow may be created;
-- otherwise the script answers {'new'} and writes nothing), then per kind (from ARGV[11]):
-- snapshot: instance JSON, items, node count, node pairs, relationship pairs;
-- upsert-flow: instance JSON; upsert-nodes / upsert-rels: (key, JSON) pairs;
-- delete-nodes: ids; delete-rels: relationship keys. The server decoded, validated and
-- de-duplicated the message; the script never parses a message.
-- Returns {'ok', epoch, seq}, {'full', items} or {'new'}.
local meta, log, inst, nodes, rels = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local channel, kind, json = ARGV[1], ARGV[2], ARGV[3]
local capacity, ttl, max_items, flow = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]), ARGV[7]
local budget, overhead, create = tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10]
local first = 11

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

local now = redis.call('TIME')
local seq
if not epoch then
  -- A flow without meta (new, deleted, expired or evicted) starts a new epoch with empty state,
  -- so ids from an earlier incarnation get a snapshot, never a wrong replay.
  epoch = now[1] .. string.format('%06d', tonumber(now[2]))
  redis.call('DEL', log, inst, nodes, rels)
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

if kind == 'snapshot' then
  redis.call('DEL', nodes, rels)
  redis.call('SET', inst, ARGV[first])
  local node_count = tonumber(ARGV[first + 2])
  local first_rel = first + 3 + 2 * node_count
  for i = first + 3, first_rel - 1, 2 do
    redis.call('HSET', nodes, ARGV[i], ARGV[i + 1])
  end
  for i = first_rel, #ARGV, 2 do
    redis.call('HSET', rels, ARGV[i], ARGV[i + 1])
  end
elseif kind == 'upsert-flow' then
  redis.call('SET', inst, ARGV[first])
elseif kind == 'upsert-nodes' then
  for i = first, #ARGV, 2 do
    redis.call('HSET', nodes, ARGV[i], ARGV[i + 1])
  end
elseif kind == 'upsert-rels' then
  for i = first, #ARGV, 2 do
    redis.call('HSET', rels, ARGV[i], ARGV[i + 1])
  end
elseif kind == 'delete-nodes' then
  local gone = {}
  for i = first, #ARGV do
    redis.call('HDEL', nodes, ARGV[i])
    gone[ARGV[i]] = true
  end
  -- Relationships touching a deleted node of this flow go too (no dangling edges).
  local all = redis.call('HGETALL', rels)
  for i = 1, #all, 2 do
    local rel = cjson.decode(all[i + 1])
    local from_here = rel.fromFlowId == nil or rel.fromFlowId == flow
    local to_here = rel.toFlowId == nil or rel.toFlowId == flow
    if (from_here and gone[rel.fromId]) or (to_here and gone[rel.toId]) then
      redis.call('HDEL', rels, all[i])
    end
  end
elseif kind == 'delete-rels' then
  for i = first, #ARGV do
    redis.call('HDEL', rels, ARGV[i])
  end
end

for _, key in ipairs(KEYS) do
  redis.call('PEXPIRE', key, ttl)
end
redis.call('PUBLISH', channel, 'm ' .. epoch .. ' ' .. seq_text .. ' ' .. json)
return {'ok', epoch, seq}
