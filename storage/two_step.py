"""Second factors, recovery codes and step-up freshness (two-step verification, issue 13).

The authenticator's secret is sealed before it reaches the session, like a code's outbox
body: a stolen database file shows no secret. Recovery codes are keyed hashes only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from flows.model import RecoveryCode, SecondFactor, StepUp
from storage.orm import recovery_codes, second_factors
from storage.sealing import Sealer, open_text, seal_text


class NoSealer(RuntimeError):
    """An authenticator secret was to be kept by a store that was given no sealer."""


class TwoStep:
    def __init__(self, session: AsyncSession, sealer: Sealer | None = None) -> None:
        self.session = session
        self._sealer = sealer

    async def factor(self, owner_key: str) -> SecondFactor | None:
        result = await self.session.scalars(
            select(SecondFactor).where(second_factors.c.owner_key == owner_key)
        )
        return result.first()

    async def start(
        self, owner_key: str, method: str, now: datetime, *, phone: str | None, secret: str | None
    ) -> SecondFactor:
        """A new, unconfirmed factor: it replaces the account's earlier one only when
        confirmed (see :meth:`confirm`), so until then the old one still holds."""
        await self.session.execute(
            delete(SecondFactor).where(
                second_factors.c.owner_key == _pending(owner_key),
            )
        )
        row = SecondFactor(
            owner_key=_pending(owner_key),
            method=method,
            phone=phone,
            totp_secret=self._sealed(secret) if secret is not None else None,
            last_totp_step=None,
            created_at=now,
            confirmed_at=None,
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def pending(self, owner_key: str) -> SecondFactor | None:
        return await self.factor(_pending(owner_key))

    async def confirm(self, owner_key: str, now: datetime) -> SecondFactor | None:
        """The pending factor becomes the account's (any earlier one goes)."""
        row = await self.pending(owner_key)
        if row is None:
            return None
        await self.session.execute(
            delete(SecondFactor).where(second_factors.c.owner_key == owner_key)
        )
        await self.session.flush()
        row.owner_key = owner_key
        row.confirmed_at = now
        await self.session.flush()
        return row

    def secret(self, factor: SecondFactor) -> str | None:
        """The authenticator's secret in clear, in memory only."""
        if factor.totp_secret is None:
            return None
        return open_text(self._sealer, factor.totp_secret)

    async def remove(self, owner_key: str) -> None:
        """Two-step off: the factor (and any pending one) and every recovery code go."""
        await self.session.execute(
            delete(SecondFactor).where(
                second_factors.c.owner_key.in_([owner_key, _pending(owner_key)])
            )
        )
        await self.session.execute(
            delete(RecoveryCode).where(recovery_codes.c.owner_key == owner_key)
        )
        await self.session.flush()

    async def replace_recovery_codes(
        self, owner_key: str, hashes: Sequence[str], now: datetime
    ) -> None:
        """A new set; the old set is void at once."""
        await self.session.execute(
            delete(RecoveryCode).where(recovery_codes.c.owner_key == owner_key)
        )
        for code_hash in hashes:
            self.session.add(
                RecoveryCode(owner_key=owner_key, code_hash=code_hash, created_at=now, used_at=None)
            )
        await self.session.flush()

    async def recovery_codes(self, owner_key: str) -> Sequence[RecoveryCode]:
        """The account's unused recovery codes."""
        result = await self.session.scalars(
            select(RecoveryCode)
            .where(recovery_codes.c.owner_key == owner_key, recovery_codes.c.used_at.is_(None))
            .order_by(recovery_codes.c.id)
        )
        return result.all()

    async def fresh_at(self, telegram_user_id: int, owner_key: str) -> datetime | None:
        row = await self.session.get(StepUp, telegram_user_id)
        return row.fresh_at if row is not None and row.owner_key == owner_key else None

    async def freshen(self, telegram_user_id: int, owner_key: str, now: datetime) -> None:
        row = await self.session.get(StepUp, telegram_user_id)
        if row is None:
            self.session.add(
                StepUp(telegram_user_id=telegram_user_id, owner_key=owner_key, fresh_at=now)
            )
        else:
            row.owner_key = owner_key
            row.fresh_at = now
        await self.session.flush()

    def _sealed(self, secret: str) -> str:
        if self._sealer is None:
            raise NoSealer("an authenticator secret needs a store with a sealer")
        return seal_text(self._sealer, secret)


def _pending(owner_key: str) -> str:
    """The key an unconfirmed factor is kept under, beside the account's confirmed one."""
    return f"{owner_key}?"
