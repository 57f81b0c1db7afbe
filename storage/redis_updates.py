"""Answered updates remembered in Redis: a redelivery is dropped at the door, before the
inbox and the desk's transaction, without a query.

Only updates handled *and* answered are marked (once they leave the inbox), so this is a
shortcut and never the truth: an update handled but not answered (a crash in between) is
not marked, reaches the desk, and ``handled_updates`` in the store repeats its kept answer.
While Redis is away every update goes on to the store, which recognises redeliveries as it
does without Redis.
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.redis_link import FAILURES, RedisLink

KEEP_SECONDS = 2 * 24 * 3600
"""As long as the store keeps handled update ids (Telegram redelivers within a day)."""


class RedisAnsweredUpdates:
    def __init__(self, link: RedisLink, namespace: str = "") -> None:
        """``namespace``: the bot's id; update ids are counted per bot."""
        self._link = link
        self._prefix = f"balie:update:{namespace or 'bot'}:"

    async def answered_before(self, update_ids: Sequence[int]) -> set[int]:
        """Which of ``update_ids`` were answered before (one MGET); none while Redis is away."""
        if not update_ids or not self._link.up():
            return set()
        try:
            marks = await self._link.client.mget([self._prefix + str(i) for i in update_ids])
        except FAILURES as exc:
            self._link.failed(exc)
            return set()
        pairs = zip(update_ids, marks, strict=True)
        return {update_id for update_id, mark in pairs if mark is not None}

    async def mark_answered(self, update_id: int) -> None:
        """One SET with a time to live; a failure only costs the shortcut."""
        if not self._link.up():
            return
        try:
            await self._link.client.set(self._prefix + str(update_id), 1, ex=KEEP_SECONDS)
        except FAILURES as exc:
            self._link.failed(exc)
