#!lua
-- Reads a flow for a replica, atomically: its position, and either the log entries after the
-- replica's own position (when the stream still holds all of them) or the whole stored state
-- plus the entries after `replay` (a client's Last-Event-ID, so it resumes exactly): never the
-- whole stream, so a load costs the state and the tail, not the history.
--
-- KEYS: as append.lua. ARGV: local epoch ('' = none), local seq, create ('1': a missing flow is
-- created empty at seq 0 with a new epoch, as a subscription creates it), ttl ms, replay epoch
-- ('' = no entries with the state), replay seq.
-- Returns {'none'} | {'tail', epoch, seq, entries} | {'full', epoch, seq, instance or nil,
-- node pairs, relationship pairs, entries}; entries as XRANGE returns them.
local meta, log, inst, nodes, rels = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local local_epoch, local_seq, create, ttl = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local replay_epoch, replay_seq = ARGV[5], tonumber(ARGV[6])

local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  if create ~= '1' then
    return {'none'}
  end
  local now = redis.call('TIME')
  epoch = now[1] .. string.format('%06d', tonumber(now[2]))
  redis.call('DEL', log, inst, nodes, rels, KEYS[6])
  redis.call('HSET', meta, 'epoch', epoch, 'seq', 0, 'state', 0)
  redis.call('PEXPIRE', meta, ttl)
  return {'full', epoch, 0, false, {}, {}, {}}
end
local seq = tonumber(redis.call('HGET', meta, 'seq'))
if create == '1' then
  -- A subscription keeps the flow alive.
  for _, key in ipairs(KEYS) do
    redis.call('PEXPIRE', key, ttl)
  end
end
if epoch == local_epoch and local_seq <= seq then
  if local_seq == seq then
    return {'tail', epoch, seq, {}}
  end
  local next_id = string.format('%d', local_seq + 1) .. '-0'
  local entries = redis.call('XRANGE', log, next_id, '+')
  if #entries > 0 and entries[1][1] == next_id then
    return {'tail', epoch, seq, entries}
  end
end
local entries = {}
if epoch == replay_epoch and replay_seq < seq then
  entries = redis.call('XRANGE', log, string.format('%d', replay_seq + 1) .. '-0', '+')
end
return {
  'full', epoch, seq, redis.call('GET', inst),
  redis.call('HGETALL', nodes), redis.call('HGETALL', rels), entries,
}
