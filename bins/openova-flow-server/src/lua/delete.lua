#!lua
-- Deletes a flow's keys and tells every replica to end its streams.
-- KEYS: as append.lua. ARGV: channel. Returns the number of keys removed.
local removed = redis.call('DEL', unpack(KEYS))
redis.call('PUBLISH', ARGV[1], 'd')
return removed
