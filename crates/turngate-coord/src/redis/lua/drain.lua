-- Acknowledges a session's signals up to an id and fetches those after
-- another; idempotent, so a drain whose reply was lost can be repeated.
-- KEYS: 1 stream
-- ARGV: 1 ack id or '', 2 after id or '', 3 max count, 4 stream ttl ms
-- Returns the XRANGE entries fetched, oldest first.
if ARGV[1] ~= '' then
  local ms, seq = string.match(ARGV[1], '^(%d+)%-(%d+)$')
  if ms then
    -- MINID keeps ids >= the threshold, so the threshold is the id right
    -- after the acknowledged one.
    redis.call('XTRIM', KEYS[1], 'MINID', ms .. '-' .. string.format('%d', tonumber(seq) + 1))
  end
end
local entries = {}
local max = tonumber(ARGV[3])
if max > 0 then
  local start = '-'
  if ARGV[2] ~= '' then
    start = '(' .. ARGV[2]
  end
  entries = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', max)
end
-- A live owner that reads slowly keeps its backlog alive.
if redis.call('XLEN', KEYS[1]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return entries
