"""One process's connection to Redis for the fast counters (abuse limits, answered updates),
and what it does while Redis is away.

Every user of the link has a fallback (the store), so a Redis that is down or slow must
never cost a step more than one short timeout: after a failure the link reports itself down
for ``pause`` seconds, in which callers go straight to their fallback, and then Redis is
tried again. A Redis that hangs costs one timeout per pause, not one per step.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("balie.redis")

FAILURES = (RedisError, OSError, asyncio.TimeoutError)
"""What a call to an unreachable, slow or refusing Redis raises."""


class RedisLink:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.5,
        pause: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client: Redis = Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._pause = pause
        self._clock = clock
        self._down_until = 0.0

    def up(self) -> bool:
        """Whether to try Redis now (False for a while after a failure)."""
        return self._clock() >= self._down_until

    def failed(self, exc: BaseException) -> None:
        """Redis failed a call: use the fallback for the next ``pause`` seconds."""
        if self.up():
            # The type only, once per pause: the log must not fill up with one line a step.
            log.warning(
                "Redis unreachable (%s): the store counts instead for %.0fs",
                type(exc).__name__,
                self._pause,
            )
        self._down_until = self._clock() + self._pause

    async def aclose(self) -> None:
        await self.client.aclose()
