"""Telegram's limits shared through Redis (``BALIE_REDIS_URL``), the same algorithm as
:mod:`storage.pace` in one Lua script: atomic, on Redis's clock, keys that expire by
themselves once they hold nobody back."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from flows.ports import PaceSlot

# KEYS: one hash per limit; ARGV: interval and burst per key. Returns the wait in seconds.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local wait = 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('HGET', key, 'tat') or '0')
  local paused = tonumber(redis.call('HGET', key, 'paused') or '0')
  local next_tat = math.max(tat, now, paused) + interval
  redis.call('HSET', key, 'tat', tostring(next_tat))
  redis.call('PEXPIRE', key, math.ceil((math.max(next_tat, paused) - now) * 1000) + 60000)
  wait = math.max(wait, next_tat - burst * interval - now, paused - now)
end
return tostring(wait)
"""

# KEYS[1]: the limit's hash; ARGV[1]: seconds to pause it.
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local untl = now + tonumber(ARGV[1])
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused') or '0')
if untl > paused then
  redis.call('HSET', KEYS[1], 'paused', tostring(untl))
  local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
  redis.call('PEXPIRE', KEYS[1], math.ceil((math.max(untl, tat) - now) * 1000) + 60000)
end
return 1
"""


class RedisPace:
    """Redis as the bot's shared pace (one script call per Bot API call)."""

    def __init__(self, url: str, namespace: str = "") -> None:
        self._redis: Redis = Redis.from_url(url)
        # One hash tag: on a Redis cluster every key of the bot lives in one slot, so a
        # reservation over the bot's and a chat's keys stays one atomic script.
        self._prefix = f"balie:pace:{{{namespace or 'bot'}}}:"
        self._reserve: Any = self._redis.register_script(_RESERVE)
        self._pause: Any = self._redis.register_script(_PAUSE)

    async def reserve(self, slots: tuple[PaceSlot, ...]) -> float:
        if not slots:
            return 0.0
        keys = [self._prefix + slot.key for slot in slots]
        args: list[float | int] = []
        for slot in slots:
            args += [slot.interval, slot.burst]
        return max(0.0, float(await self._reserve(keys=keys, args=args)))

    async def pause(self, key: str, seconds: float) -> None:
        await self._pause(keys=[self._prefix + key], args=[seconds])

    async def aclose(self) -> None:
        await self._redis.aclose()
