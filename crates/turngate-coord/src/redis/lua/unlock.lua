-- Releases a lock if it is held with this fencing token.
-- KEYS: 1 lock hash
-- ARGV: 1 token
-- Returns 1 if released, 0 otherwise.
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
