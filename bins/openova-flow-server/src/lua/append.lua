#!lua
-- Appends one message to a flow atomically: assign the seq (a new epoch when the flow's meta is
-- gone), XADD it with id <seq>-0 capped at the ring capacity, fold it into the stored state, and
-- PUBLISH it, so every replica sees one order and one state per seq.
--
-- KEYS: meta (hash epoch, seq, at), log (stream), inst (flow instance JSON), nodes (hash id -> node
-- JSON), rels (hash natural key -> relationship JSON); all share the {flowId} hash tag.
-- ARGV: channel, kind, message JSON, ring capacity, ttl ms, max state items, flow id, then per
-- kind: snapshot: instance JSON, items, node count, node pairs, relationship pairs;
-- upsert-flow: instance JSON; upsert-nodes / upsert-rels: (key, JSON) pairs;
-- delete-nodes: ids; delete-rels: relationship keys. The server decoded, validated and
-- de-duplicated the message; the script never parses a message.
-- Returns {'ok', epoch, seq} or {'full', items}.
local meta, log, inst, nodes, rels = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local channel, kind, json = ARGV[1], ARGV[2], ARGV[3]
local capacity, ttl, max_items, flow = ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]

-- The bound is checked before anything is written.
local items
if kind == 'snapshot' then
  items = tonumber(ARGV[9])
else
  items = redis.call('HLEN', nodes) + redis.call('HLEN', rels)
  if kind == 'upsert-nodes' or kind == 'upsert-rels' then
    local hash = nodes
    if kind == 'upsert-rels' then hash = rels end
    for i = 8, #ARGV, 2 do
      if redis.call('HEXISTS', hash, ARGV[i]) == 0 then items = items + 1 end
    end
  end
end
if items > max_items then
  return {'full', items}
end

local now = redis.call('TIME')
local epoch = redis.call('HGET', meta, 'epoch')
local seq
if not epoch then
  -- A flow without meta (new, deleted, expired or evicted) starts a new epoch with empty state,
  -- so ids from an earlier incarnation get a snapshot, never a wrong replay.
  epoch = now[1] .. string.format('%06d', tonumber(now[2]))
  redis.call('DEL', log, inst, nodes, rels)
  seq = 1
  redis.call('HSET', meta, 'epoch', epoch, 'seq', seq)
else
  seq = redis.call('HINCRBY', meta, 'seq', 1)
end
-- The meta hash is also the flow's entry in every replica's listing: 'at' is the time of the
-- last append in Unix milliseconds.
redis.call('HSET', meta, 'at', now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000)))
local seq_text = string.format('%d', seq)
redis.call('XADD', log, 'MAXLEN', capacity, seq_text .. '-0', 'm', json)

if kind == 'snapshot' then
  redis.call('DEL', nodes, rels)
  redis.call('SET', inst, ARGV[8])
  local node_count = tonumber(ARGV[10])
  local first_rel = 11 + 2 * node_count
  for i = 11, first_rel - 1, 2 do
    redis.call('HSET', nodes, ARGV[i], ARGV[i + 1])
  end
  for i = first_rel, #ARGV, 2 do
    redis.call('HSET', rels, ARGV[i], ARGV[i + 1])
  end
elseif kind == 'upsert-flow' then
  redis.call('SET', inst, ARGV[8])
elseif kind == 'upsert-nodes' then
  for i = 8, #ARGV, 2 do
    redis.call('HSET', nodes, ARGV[i], ARGV[i + 1])
  end
elseif kind == 'upsert-rels' then
  for i = 8, #ARGV, 2 do
    redis.call('HSET', rels, ARGV[i], ARGV[i + 1])
  end
elseif kind == 'delete-nodes' then
  local gone = {}
  for i = 8, #ARGV do
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
  for i = 8, #ARGV do
    redis.call('HDEL', rels, ARGV[i])
  end
end

for _, key in ipairs(KEYS) do
  redis.call('PEXPIRE', key, ttl)
end
redis.call('PUBLISH', channel, 'm ' .. epoch .. ' ' .. seq_text .. ' ' .. json)
return {'ok', epoch, seq}
