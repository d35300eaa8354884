#!lua
-- What a writer records after its engine applied a message at (epoch, seq): the listing's
-- figures, only if newer than the recorded ones (compare-and-set on meta.listed, so a late
-- settle never overwrites a later one); and optionally a checkpoint, the folded state at
-- seq, only if it is newer than the stored one (compare-and-set on the seq). Nothing is
-- trimmed here: the next append trims what the checkpoint covers, so a writer that stops
-- between the two loses nothing.
--
-- KEYS: as append.lua. ARGV: epoch, seq, nodes by status (JSON object), relationship count,
-- checkpoint JSON ('' = none), bytes counted per entry besides its JSON, ttl ms.
-- Returns {listing written (0/1), checkpoint written (0/1)}.
local meta, log, ckpt = KEYS[1], KEYS[2], KEYS[3]
local epoch, seq, nodes, rels = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local state, overhead, ttl = ARGV[5], tonumber(ARGV[6]), ARGV[7]

if redis.call('HGET', meta, 'epoch') ~= epoch then return {0, 0} end
local head = tonumber(redis.call('HGET', meta, 'seq'))
local listed, checkpointed = 0, 0
if seq <= head and seq > tonumber(redis.call('HGET', meta, 'listed') or '0') then
  redis.call('HSET', meta, 'nodes', nodes, 'rels', rels, 'listed', seq)
  listed = 1
end
local covered = tonumber(redis.call('HGET', meta, 'ckpt') or '0')
if state ~= '' and seq > covered and seq <= head then
  redis.call('SET', ckpt, state, 'PX', ttl)
  -- The entries after the new checkpoint are the new tail.
  local tail = 0
  for _, entry in ipairs(redis.call('XRANGE', log, string.format('%d', seq + 1) .. '-0', '+')) do
    tail = tail + #entry[2][2] + overhead
  end
  redis.call('HSET', meta, 'ckpt', seq, 'tail', tail)
  checkpointed = 1
end
return {listed, checkpointed}
