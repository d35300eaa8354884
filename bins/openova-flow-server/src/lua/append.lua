#!lua
-- Appends one message to a flow if the flow is still at the position the engine admitted it
-- at (compare-and-set on epoch and seq): assign the next seq (a new epoch when the flow's meta
-- is gone and the writer expected no flow), XADD it with id <seq>-0, trim the oldest entries
-- the checkpoint covers while the stream is over its bounds, and PUBLISH it: every replica sees
-- one order. The script never parses a message; the engine decided what it does.
--
-- KEYS: meta (hash epoch, seq, at, bytes, ckpt, tail, and the listing's nodes, rels),
-- log (stream), ckpt (the folded state at seq meta.ckpt); all share the {flowId} hash tag.
-- ARGV: channel, message JSON, expected epoch ('' = the flow must have no meta), expected seq,
-- ring capacity, byte budget, bytes counted per entry besides its JSON, ttl ms.
-- Returns {'ok', epoch, seq, tail bytes, tail entries} (the entries after the checkpoint),
-- {'stale'} (the flow is elsewhere: nothing written) or {'checkpoint'} (the entries after the
-- checkpoint fill the bounds: a checkpoint must come first; nothing written).
local meta, log, ckpt = KEYS[1], KEYS[2], KEYS[3]
local channel, json, expected_epoch = ARGV[1], ARGV[2], ARGV[3]
local expected_seq, capacity, budget = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local overhead, ttl = tonumber(ARGV[7]), ARGV[8]
local size = #json + overhead

local epoch = redis.call('HGET', meta, 'epoch')
local now = redis.call('TIME')
local seq, covered
if expected_epoch == '' then
  if epoch then return {'stale'} end
  -- A flow without meta (new, deleted, expired or evicted) starts a new epoch with empty
  -- state, so ids from an earlier incarnation get a snapshot, never a wrong replay.
  epoch = now[1] .. string.format('%06d', tonumber(now[2]))
  redis.call('DEL', log, ckpt)
  redis.call('HSET', meta, 'epoch', epoch, 'bytes', 0, 'ckpt', 0, 'tail', 0)
  seq, covered = 1, 0
else
  if epoch ~= expected_epoch then return {'stale'} end
  local current = tonumber(redis.call('HGET', meta, 'seq'))
  if current ~= expected_seq then return {'stale'} end
  covered = tonumber(redis.call('HGET', meta, 'ckpt') or '0')
  local tail = tonumber(redis.call('HGET', meta, 'tail') or '0')
  -- Only entries a checkpoint covers may be trimmed: the entries after it are bounded like
  -- the ring, so a restore (checkpoint plus tail) is bounded too.
  if current - covered >= capacity or tail + size > budget then return {'checkpoint'} end
  seq = current + 1
end
-- 'at' (the last append, Unix milliseconds) also serves the listing.
redis.call('HSET', meta, 'seq', seq,
  'at', now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000)))
local seq_text = string.format('%d', seq)
redis.call('XADD', log, seq_text .. '-0', 'm', json)
local tail = redis.call('HINCRBY', meta, 'tail', size)
-- The stream holds what a replica's ring holds, at most `capacity` entries and `budget` bytes,
-- as far as the checkpoint allows: the oldest covered entries go first.
local bytes = redis.call('HINCRBY', meta, 'bytes', size)
local count = redis.call('XLEN', log)
while count > capacity or bytes > budget do
  local oldest = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1]
  if not oldest or tonumber(string.match(oldest[1], '^%d+')) > covered then break end
  bytes = redis.call('HINCRBY', meta, 'bytes', -(#oldest[2][2] + overhead))
  redis.call('XDEL', log, oldest[1])
  count = count - 1
end
for _, key in ipairs(KEYS) do
  redis.call('PEXPIRE', key, ttl)
end
redis.call('PUBLISH', channel, 'm ' .. epoch .. ' ' .. seq_text .. ' ' .. json)
return {'ok', epoch, seq, tail, seq - covered}
