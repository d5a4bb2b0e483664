//! The Lua scripts the engine runs in Redis: each is one atomic step, so the lease check, the
//! seq check and the writes of a publish cannot be split by another client.
//!
//! Values kept in Redis (under the engine's prefix):
//! - `lease`: a string `<token>:<owner>` with a PX expiry; `fence`: the counter tokens come from.
//! - `meta`: a hash `epoch` (16 hex digits), `seq` (decimal), and `poisoned` (an epoch a follower
//!   saw go backwards: the writer may not continue it).
//! - `stream`: entries `t` (`m` a message, `r` the first state of an epoch), `e` epoch, `s` seq,
//!   `m` the encoded message; capped with `MAXLEN ~`.
//! - `state`: a hash `epoch`, `seq`, `id` (the stream entry written with it) and `report` (JSON):
//!   the last checkpoint, which may be behind `meta` (the stream holds every entry after `id`).

/// Takes the lease for `ARGV[1]` (owner) for `ARGV[2]` ms when nobody holds it; an owner that
/// already holds it has it extended. Returns the token, or nil when another owner holds it.
pub(crate) const ACQUIRE: &str = r"
local held = redis.call('GET', KEYS[1])
if held then
  local sep = string.find(held, ':', 1, true)
  if sep and string.sub(held, sep + 1) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return string.sub(held, 1, sep - 1)
  end
  return false
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. ':' .. ARGV[1], 'PX', ARGV[2])
return tostring(token)
";

/// Extends the lease `ARGV[1]` (`<token>:<owner>`) to `ARGV[2]` ms; 1 when it was still held.
pub(crate) const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// Gives up the lease `ARGV[1]`; 1 when it was still held.
pub(crate) const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

/// One publish. KEYS: lease, meta, stream, state. ARGV: [1] the lease (`<token>:<owner>`),
/// [2] mode (`c` continue the epoch, `b` begin one), [3] epoch, [4] the seq Redis must be at
/// (continue only), [5] the last seq, [6] the stream cap, [7] the state's JSON (empty: keep the
/// last checkpoint), then pairs of (seq, message).
///
/// Returns `{'ok', id}`; `{'fenced'}` when the lease is not this one (expired, taken over, or
/// Redis lost it); `{'diverged', epoch, seq}` when a continue does not follow what Redis holds
/// (or the epoch was poisoned by a follower).
pub(crate) const PUBLISH: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return {'fenced'}
end
if ARGV[2] == 'c' then
  local meta = redis.call('HMGET', KEYS[2], 'epoch', 'seq', 'poisoned')
  if meta[1] ~= ARGV[3] or meta[2] ~= ARGV[4] or meta[3] == ARGV[3] then
    return {'diverged', meta[1] or '', meta[2] or ''}
  end
end
local id = false
if ARGV[2] == 'b' then
  id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 't', 'r', 'e', ARGV[3], 's', ARGV[5])
  redis.call('HDEL', KEYS[2], 'poisoned')
end
for i = 8, #ARGV, 2 do
  id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 't', 'm', 'e', ARGV[3], 's', ARGV[i], 'm', ARGV[i + 1])
end
redis.call('HSET', KEYS[2], 'epoch', ARGV[3], 'seq', ARGV[5])
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[4], 'epoch', ARGV[3], 'seq', ARGV[5], 'id', id, 'report', ARGV[7])
end
return {'ok', id}
";

/// Marks epoch `ARGV[1]` as poisoned when it is still Redis's epoch (a follower saw its seq go
/// backwards): the writer's next continue is refused and it begins a new epoch.
pub(crate) const POISON: &str = r"
if redis.call('HGET', KEYS[1], 'epoch') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'poisoned', ARGV[1])
  return 1
end
return 0
";
