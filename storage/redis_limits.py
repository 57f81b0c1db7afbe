"""The abuse limits' counts in Redis (``BALIE_REDIS_URL``), with the store as the fallback.

One sorted set per limit key: one member per event (unique), scored by its time in whole
microseconds since the epoch (exact in a double until the year 2255). Counting is one
script call (ZCOUNT and the oldest member after the window's start) and adding one more
(ZADD, trimming what is older than a day, PEXPIRE a day): O(log n) each, one round trip,
whatever the size of the store. Keys are ``balie:limit:<limit name>:<keyed hash>``: a limit
key may hold a chat id or a fingerprint of an address, and Redis gets neither; the hash is
under a key derived from the server key, so two deployments on one Redis never meet.

Redis is not part of the store's transaction: an event counted for a step that then rolls
back stays counted. That errs on the side of limiting (a failed step that was an attempt
still was one) and never lets anyone try more often than the limit says.

When Redis is down (or slow) at a step the count goes to the store instead, inside the
step's transaction, as without Redis; the step does not fail. Failing closed ("try again
later" for everyone) would turn a Redis outage into a desk outage on the day thousands ask
for their code, the very harm the limits are there to prevent. The store is shared by all
workers too, so the limits keep holding across workers during the outage; what is lost is
the counts from before it (and, once Redis is back, those made during it): at most one
window's worth of extra attempts per outage, bounded and rare.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from flows.store import RateEvents
from storage.redis_link import FAILURES, RedisLink

KEEP = timedelta(days=1)
"""How long an event is kept: the longest window any limit may have (housekeeping keeps as
long in the store)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# KEYS[1]: the limit's set; ARGV[1]: the window's start (exclusive). Returns {count, oldest}.
_SINCE = """
local n = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')
if n == 0 then return {0} end
local first = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf',
                         'WITHSCORES', 'LIMIT', 0, 1)
return {n, first[2]}
"""

# KEYS[1]: the limit's set; ARGV: the event's score, its member, the score before which
# events are forgotten, the set's time to live in milliseconds.
_ADD = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""


def _score(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _moment(score: Any) -> datetime:
    return _EPOCH + int(float(score)) * _MICROSECOND


class RedisLimits:
    """The process's limit counts in Redis; hands each transaction its :class:`RateEvents`."""

    def __init__(self, link: RedisLink, key: bytes) -> None:
        """``key``: hashes the limit keys (derived from the server key, never the key)."""
        self.link = link
        self._key = key
        self._since: Any = link.client.register_script(_SINCE)
        self._add: Any = link.client.register_script(_ADD)

    def rate_events(self, fallback: RateEvents) -> RateEvents:
        """The rate events of one transaction: Redis, or ``fallback`` (the transaction's
        own, in the store) while Redis is away."""
        return RedisRateEvents(self, fallback)

    def redis_key(self, key: str) -> str:
        name, _, _ = key.partition(":")
        digest = hmac.new(self._key, key.encode(), hashlib.sha256).hexdigest()[:32]
        return f"balie:limit:{name}:{digest}"

    async def since(self, key: str, since: datetime) -> tuple[int, datetime | None]:
        reply = await self._since(keys=[self.redis_key(key)], args=[_score(since)])
        count = int(reply[0])
        return count, (_moment(reply[1]) if count else None)

    async def add(self, key: str, at: datetime) -> None:
        score = _score(at)
        member = f"{score}-{secrets.token_hex(6)}"
        forget = _score(at - KEEP)
        ttl = int(KEEP / timedelta(milliseconds=1))
        await self._add(keys=[self.redis_key(key)], args=[score, member, forget, ttl])


class RedisRateEvents:
    """:class:`flows.store.RateEvents` on Redis, the store's while Redis is down."""

    def __init__(self, limits: RedisLimits, fallback: RateEvents) -> None:
        self._limits = limits
        self._fallback = fallback

    async def since(self, key: str, since: datetime) -> tuple[int, datetime | None]:
        if self._limits.link.up():
            try:
                return await self._limits.since(key, since)
            except FAILURES as exc:
                self._limits.link.failed(exc)
        return await self._fallback.since(key, since)

    async def add(self, key: str, at: datetime) -> None:
        if self._limits.link.up():
            try:
                await self._limits.add(key, at)
                return
            except FAILURES as exc:
                self._limits.link.failed(exc)
        await self._fallback.add(key, at)

    async def forget_before(self, moment: datetime, limit: int) -> int:
        """Redis forgets by itself (trimmed at each event, expired a day after the last);
        the store still holds what was counted there while Redis was down."""
        return await self._fallback.forget_before(moment, limit)
