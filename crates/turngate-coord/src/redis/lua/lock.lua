-- Takes a lock if it is free, with a fencing token one above the last one
-- issued for the key. A fresh counter starts at the server time in
-- microseconds, so tokens keep increasing even after the counter expired or
-- the dataset was lost.
-- KEYS: 1 lock hash, 2 fencing counter
-- ARGV: 1 holder nonce, 2 ttl ms, 3 fencing counter ttl ms
-- Returns {1, token} when taken (or already taken by this same request),
-- {0, remaining ttl ms} when held by someone else.
local held = redis.call('HMGET', KEYS[1], 'token', 'holder')
if held[1] then
  if held[2] == ARGV[1] then
    return {1, tonumber(held[1])}
  end
  return {0, redis.call('PTTL', KEYS[1])}
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[2], t[1] .. string.format('%06d', tonumber(t[2])))
end
local token = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
-- Formatted as an integer explicitly: Redis's own number-to-string
-- conversion for script arguments may use exponent notation.
redis.call('HSET', KEYS[1], 'token', string.format('%d', token), 'holder', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, token}
