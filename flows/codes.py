"""One-time codes: random, hashed at rest with argon2, compared in constant time."""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class CodeHasher:
    """Argon2id with modest cost: codes are short-lived, but a leaked table must not show them."""

    def __init__(self, time_cost: int = 2, memory_cost: int = 19_456) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=1)

    def hash(self, code: str) -> str:
        return self._hasher.hash(code)

    def matches(self, code_hash: str, candidate: str) -> bool:
        try:
            return self._hasher.verify(code_hash, candidate)
        except (VerificationError, InvalidHashError):
            return False

    # Argon2 costs tens of milliseconds of CPU on purpose. In a thread (it releases the GIL)
    # it neither stalls every other chat on the event loop nor keeps the second core idle.

    async def hash_async(self, code: str) -> str:
        return await asyncio.to_thread(self.hash, code)

    async def matches_async(self, code_hash: str, candidate: str) -> bool:
        return await asyncio.to_thread(self.matches, code_hash, candidate)


def numeric_code(digits: int = 6) -> str:
    return "".join(str(secrets.randbelow(10)) for _ in range(digits))
