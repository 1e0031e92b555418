-- Stores one signal in a session's stream and wakes the session's owner.
-- KEYS: 1 stream, 2 de-dup sorted set, 3 de-dup id hash, 4 lease hash
-- ARGV: 1 kind, 2 payload, 3 sent_at_us, 4 stream ttl ms, 5 max pending,
--       6 de-dup key or '', 7 de-dup window ms, 8 channel prefix or '' for no push,
--       9 session id, 10 max de-dup keys
-- Returns {status, stream id, owner or ''}; status is ok, dup or full.
local owner = redis.call('HGET', KEYS[4], 'worker')
if not owner then
  owner = ''
end
local dedup = ARGV[6]
local now_ms = 0
if dedup ~= '' then
  local t = redis.call('TIME')
  now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now_ms, 'LIMIT', 0, 256)
  if #expired > 0 then
    redis.call('ZREM', KEYS[2], unpack(expired))
    redis.call('HDEL', KEYS[3], unpack(expired))
  end
  local previous = redis.call('HGET', KEYS[3], dedup)
  if previous then
    return {'dup', previous, owner}
  end
end
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[5]) then
  return {'full', '', owner}
end
local id = redis.call('XADD', KEYS[1], '*', 'k', ARGV[1], 'p', ARGV[2], 't', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if dedup ~= '' then
  redis.call('ZADD', KEYS[2], now_ms + tonumber(ARGV[7]), dedup)
  redis.call('HSET', KEYS[3], dedup, id)
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
  redis.call('PEXPIRE', KEYS[3], ARGV[7])
  local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[10])
  if excess > 0 then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, excess - 1)
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
    redis.call('HDEL', KEYS[3], unpack(oldest))
  end
end
-- An empty channel prefix means push is switched off: owners find the
-- signal on their next inbox tick.
if owner ~= '' and ARGV[8] ~= '' then
  redis.call('PUBLISH', ARGV[8] .. owner, ARGV[9])
end
return {'ok', id, owner}
