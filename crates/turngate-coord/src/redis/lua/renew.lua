-- Extends a lease if the stored one carries this worker and token.
-- KEYS: 1 lease hash
-- ARGV: 1 worker, 2 token, 3 ttl ms
-- Returns {1, worker} on success, {0, current owner or ''} otherwise.
local current = redis.call('HMGET', KEYS[1], 'worker', 'token')
if current[1] == ARGV[1] and current[2] == ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {1, ARGV[1]}
end
return {0, current[1] or ''}
