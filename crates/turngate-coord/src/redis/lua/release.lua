-- Deletes a lease if the stored one carries this worker and token.
-- KEYS: 1 lease hash
-- ARGV: 1 worker, 2 token
-- Returns 1 if released, 0 otherwise.
local current = redis.call('HMGET', KEYS[1], 'worker', 'token')
if current[1] == ARGV[1] and current[2] == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
