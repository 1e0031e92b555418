-- Makes a worker the owner of a session if it is free or already the
-- worker's; a re-acquisition replaces the token.
-- KEYS: 1 lease hash
-- ARGV: 1 worker, 2 token, 3 ttl ms
-- Returns {1, worker} on success, {0, current owner} otherwise.
local current = redis.call('HGET', KEYS[1], 'worker')
if current and current ~= ARGV[1] then
  return {0, current}
end
redis.call('HSET', KEYS[1], 'worker', ARGV[1], 'token', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, ARGV[1]}
