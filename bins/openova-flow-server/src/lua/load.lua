#!lua
-- Reads a flow for a replica, atomically: its position, and either the log entries after the
-- replica's own position (when the stream still holds all of them) or the checkpoint (the
-- folded state at meta.ckpt) plus the entries after it, from the client's Last-Event-ID when
-- the stream still holds that (so it resumes exactly): a load costs the state and the tail,
-- never the history.
--
-- KEYS: as append.lua. ARGV: local epoch ('' = none), local seq, create ('1': a missing flow is
-- created empty at seq 0 with a new epoch, and a held one's expiry is refreshed), ttl ms,
-- replay epoch ('' = none), replay seq.
-- Returns {'none'} | {'tail', epoch, seq, entries} | {'full', epoch, seq, checkpoint seq,
-- checkpoint JSON or nil, entries}; entries as XRANGE returns them.
local meta, log, ckpt = KEYS[1], KEYS[2], KEYS[3]
local local_epoch, local_seq, create, ttl = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local replay_epoch, replay_seq = ARGV[5], tonumber(ARGV[6])

local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  if create ~= '1' then
    return {'none'}
  end
  local now = redis.call('TIME')
  epoch = now[1] .. string.format('%06d', tonumber(now[2]))
  redis.call('DEL', log, ckpt)
  redis.call('HSET', meta, 'epoch', epoch, 'seq', 0, 'bytes', 0, 'ckpt', 0, 'tail', 0)
  redis.call('PEXPIRE', meta, ttl)
  return {'full', epoch, 0, 0, false, {}}
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
local covered = tonumber(redis.call('HGET', meta, 'ckpt') or '0')
local from = covered
if epoch == replay_epoch and replay_seq < covered then from = replay_seq end
local entries = redis.call('XRANGE', log, string.format('%d', from + 1) .. '-0', '+')
return {'full', epoch, seq, covered, redis.call('GET', ckpt), entries}
