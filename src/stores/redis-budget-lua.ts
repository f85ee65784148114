/**
 * The Lua scripts of the Redis budget store. Each runs atomically in Redis, so a check
 * and a reservation across all scopes of a call cannot interleave with another replica's.
 *
 * Money is kept as two integer fields, micro-dollars (…mh) and the pico-dollar rest
 * (…ml, 0 <= ml < 10^6), because Lua numbers are doubles: exact only below 2^53, about
 * $9,007 in pico-dollars. Split this way, sums stay exact up to $10^8 per scope, and
 * numbers are written with %.0f so Redis never stores them in exponent notation.
 */

/** The fields of a scope hash, in the order the scripts return them. */
export const SCOPE_FIELDS = ['win', 'ws', 'lmh', 'lml', 'lt', 'lc', 'soft', 'smh', 'sml', 'st', 'sc', 'rmh', 'rml', 'rt', 'rc'] as const;

const COMMON = `
local B = 1000000
local FIELDS = {${SCOPE_FIELDS.map((field) => `'${field}'`).join(', ')}}
local function n(x) return tonumber(x) or 0 end
local function s(x) return string.format('%.0f', x) end
local function norm(h, l)
  local carry = math.floor(l / B)
  return h + carry, l - carry * B
end
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function snapshot(key) return redis.call('HMGET', key, unpack(FIELDS)) end
-- Adds sign * (mh, ml, t, c) to the spent ('s') or reserved ('r') counters of a scope.
local function bump(key, which, sign, mh, ml, t, c)
  local f = redis.call('HMGET', key, which .. 'mh', which .. 'ml', which .. 't', which .. 'c')
  local h, l = norm(n(f[1]) + sign * mh, n(f[2]) + sign * ml)
  redis.call('HSET', key, which .. 'mh', s(h), which .. 'ml', s(l), which .. 't', s(n(f[3]) + sign * t), which .. 'c', s(n(f[4]) + sign * c))
end
-- A new window: spend starts over; reservations still held carry into it.
local function roll(key, ws)
  if ws > n(redis.call('HGET', key, 'ws')) then
    redis.call('HSET', key, 'ws', s(ws), 'smh', '0', 'sml', '0', 'st', '0', 'sc', '0')
  end
end
`;

/**
 * KEYS: leases, reservation, scope... ARGV: owner, leaseMs, mh, ml, tokens, calls, scopes
 * (newline-separated), then each scope's current window start. Returns {status, states...}:
 * 'ok' (reserved), 'retry' (it no longer fits: decide again from the states) or 'missing:<i>'.
 */
export const RESERVE_LUA = `${COMMON}
local mh, ml, t, c = n(ARGV[3]), n(ARGV[4]), n(ARGV[5]), n(ARGV[6])
local result = {'ok'}
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then return {'missing:' .. (i - 3)} end
  roll(KEYS[i], n(ARGV[i + 5]))
end
for i = 3, #KEYS do
  local f = redis.call('HMGET', KEYS[i], 'lmh', 'lml', 'lt', 'lc', 'smh', 'sml', 'st', 'sc', 'rmh', 'rml', 'rt', 'rc')
  if f[1] then
    local h, l = norm(n(f[1]) - n(f[5]) - n(f[9]) - mh, n(f[2]) - n(f[6]) - n(f[10]) - ml)
    if h < 0 then result[1] = 'retry' end
  end
  if f[3] and n(f[3]) - n(f[7]) - n(f[11]) - t < 0 then result[1] = 'retry' end
  if f[4] and n(f[4]) - n(f[8]) - n(f[12]) - c < 0 then result[1] = 'retry' end
end
if result[1] == 'ok' then
  for i = 3, #KEYS do bump(KEYS[i], 'r', 1, mh, ml, t, c) end
  redis.call('HSET', KEYS[2], 'scopes', ARGV[7], 'mh', ARGV[3], 'ml', ARGV[4], 't', ARGV[5], 'c', ARGV[6], 'owner', ARGV[1])
  redis.call('ZADD', KEYS[1], nowMs() + n(ARGV[2]), KEYS[2])
end
for i = 3, #KEYS do result[#result + 1] = snapshot(KEYS[i]) end
return result
`;

/**
 * KEYS: leases, reservation. ARGV: mode ('settle' | 'release'), mh, ml, tokens, calls,
 * day start, month start, scope key prefix. Returns {'gone'} when already settled or
 * released (idempotent), else {'ok', scope name, state, scope name, state...}.
 */
export const FINISH_LUA = `${COMMON}
if redis.call('EXISTS', KEYS[2]) == 0 then return {'gone'} end
local r = redis.call('HMGET', KEYS[2], 'scopes', 'mh', 'ml', 't', 'c')
local result = {'ok'}
for scope in string.gmatch(r[1], '[^\\n]+') do
  local key = ARGV[8] .. scope
  if redis.call('EXISTS', key) == 1 then
    bump(key, 'r', -1, n(r[2]), n(r[3]), n(r[4]), n(r[5]))
    if ARGV[1] == 'settle' then
      local win = redis.call('HGET', key, 'win')
      roll(key, win == 'day' and n(ARGV[6]) or win == 'month' and n(ARGV[7]) or 0)
      bump(key, 's', 1, n(ARGV[2]), n(ARGV[3]), n(ARGV[4]), n(ARGV[5]))
    end
    result[#result + 1] = scope
    result[#result + 1] = snapshot(key)
  end
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], KEYS[2])
return result
`;

/**
 * KEYS: scope. ARGV: window kind, window start, limit mh, ml, tokens, calls, soft threshold
 * ('' for none), then the seed spend mh, ml, tokens, calls, used only for a new scope.
 */
export const DEFINE_LUA = `${COMMON}
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then
  redis.call('HSET', key, 'ws', ARGV[2], 'smh', ARGV[8], 'sml', ARGV[9], 'st', ARGV[10], 'sc', ARGV[11], 'rmh', '0', 'rml', '0', 'rt', '0', 'rc', '0')
end
redis.call('HSET', key, 'win', ARGV[1])
local names = {'lmh', 'lml', 'lt', 'lc', 'soft'}
for i = 1, 5 do
  if ARGV[2 + i] == '' then redis.call('HDEL', key, names[i]) else redis.call('HSET', key, names[i], ARGV[2 + i]) end
end
roll(key, n(ARGV[2]))
return snapshot(key)
`;

/** KEYS: leases. ARGV: leaseMs, reservation keys owned by a live replica. Extends only leases that still exist. */
export const RENEW_LUA = `${COMMON}
local expires = nowMs() + n(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', expires, ARGV[i]) end
return #ARGV - 1
`;

/** KEYS: leases. ARGV: how many. The reservation keys whose lease has run out (their owner stopped renewing). */
export const EXPIRED_LUA = `${COMMON}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', nowMs(), 'LIMIT', 0, n(ARGV[1]))
`;
