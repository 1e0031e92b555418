-- Adds to a counter and sets its TTL in one step.
-- KEYS: 1 counter
-- ARGV: 1 delta, 2 ttl ms
-- Returns the new value.
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return value
