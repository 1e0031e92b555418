-- Extends a lock if it is held with this fencing token.
-- KEYS: 1 lock hash
-- ARGV: 1 token, 2 ttl ms
-- Returns 1 if extended, 0 otherwise.
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
