"""The one code service: issue a code bound to what it proves, and verify it.

Registration, password reset and activation all go through here. A code is bound to its
purpose, its subject (an account, or a registration draft), the exact destination it was
sent to and the organization. A conversation keeps the id of the code it waits for, and only
that code, for that destination, confirms; activation codes (printed on letters, typed in
any chat) are found by their keyed hash instead.

Wrong tries count against the chat that made them and the (chat, account) pair, never
against the account itself: nobody can burn or block someone else's code. Every path of
:meth:`CodeService.verify` does the same keyed-hash work, so timing tells nothing either.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from flows import limits
from flows.domain import CodePurpose
from flows.keys import KeyedHasher, message
from flows.model import OneTimeCode
from flows.store import Transaction
from flows.turn import DeskPolicy, Turn


@dataclass(frozen=True)
class CodeShape:
    """What a code looks like: who makes it, and what a person may type for it."""

    alphabet: str
    length: int
    ignore: str = " "
    """Characters a person may type between the code's characters (spaces, dashes)."""

    def new(self) -> str:
        return "".join(secrets.choice(self.alphabet) for _ in range(self.length))

    def normalized(self, typed: str) -> str | None:
        """The code a person meant, or None when the input cannot be such a code."""
        text = "".join(ch for ch in typed.strip().upper() if ch not in self.ignore)
        if len(text) != self.length or any(ch not in self.alphabet for ch in text):
            return None
        return text


SHORT_CODE = CodeShape("0123456789", 6)
"""Six digits, sent by e-mail or SMS and typed at once."""
ACTIVATION_CODE = CodeShape("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", 12, ignore=" -")
"""Twelve characters without 0/O and 1/I/L (60 bits), read from a letter or a mail."""

FOUND_BY_HASH = frozenset({CodePurpose.ACTIVATION})
"""Purposes whose codes are typed in any chat: found by their keyed hash, not by an id."""


class Failure(StrEnum):
    """Why a code did not confirm: for the audit log and staff, never for the person."""

    MALFORMED = "malformed"
    UNKNOWN = "unknown"
    WRONG = "wrong"
    EXPIRED = "expired"
    USED_UP = "used_up"
    LAST_TRY = "last_try"
    """Wrong, and that was the code's last try: it no longer works."""
    LOCKED = "locked"


@dataclass(frozen=True)
class Target:
    """What a code is bound to."""

    purpose: CodePurpose
    subject: str
    destination: str
    organization_id: int | None


@dataclass(frozen=True)
class IssuedCode:
    id: int
    code: str
    """In plain text only here: the caller puts it straight into a message."""
    expires_at: datetime


@dataclass(frozen=True)
class Verification:
    code: OneTimeCode | None
    """The confirmed code (now used); None when it did not confirm."""
    failure: Failure | None
    slowdown: timedelta
    """How long the answer should wait: many chats failed for this account lately."""

    @property
    def confirmed(self) -> bool:
        return self.code is not None


def fingerprint(identifier: str) -> str:
    """A short stand-in for an address or number in limit keys: the store keeps no list of
    what strangers typed."""
    return hashlib.sha256(identifier.strip().lower().encode()).hexdigest()[:24]


def _label(purpose: CodePurpose) -> str:
    return f"code:{purpose.value}"


def _bound_text(target: Target, code: str) -> str:
    if target.purpose in FOUND_BY_HASH:
        return message(code)
    return message(target.subject, target.destination, target.organization_id or "", code)


def stored_code_matches(hasher: KeyedHasher, row: OneTimeCode, code: str) -> bool:
    """Whether ``row`` was made from ``code`` (for checks from outside a flow: tests, audits)."""
    target = Target(row.purpose, row.subject, row.destination, row.organization_id)
    return hasher.matches(row.code_hash, _label(row.purpose), _bound_text(target, code))


class CodeService:
    """Issue and verify codes inside one transaction."""

    def __init__(
        self, tx: Transaction, hasher: KeyedHasher, policy: DeskPolicy, now: datetime
    ) -> None:
        self.tx = tx
        self.hasher = hasher
        self.policy = policy
        self.now = now

    @classmethod
    def of(cls, turn: Turn) -> CodeService:
        return cls(turn.tx, turn.hasher, turn.policy, turn.now)

    # -- issuing ---------------------------------------------------------------------------

    async def issue(
        self, target: Target, shape: CodeShape, valid_for: timedelta, max_attempts: int = 5
    ) -> IssuedCode:
        """A new code for ``target``; every earlier unused code of its subject and purpose is
        burned at once (a new code replaces the old one)."""
        await self.tx.codes.burn_all(target.subject, target.purpose)
        return await self.issue_alongside(target, shape, valid_for, max_attempts)

    async def issue_alongside(
        self, target: Target, shape: CodeShape, valid_for: timedelta, max_attempts: int = 5
    ) -> IssuedCode:
        """A new code for ``target`` that leaves its subject's earlier codes valid."""
        code = shape.new()
        row = await self.tx.codes.add(
            OneTimeCode(
                purpose=target.purpose,
                subject=target.subject,
                destination=target.destination,
                organization_id=target.organization_id,
                code_hash=self.hasher.digest(_label(target.purpose), _bound_text(target, code)),
                created_at=self.now,
                expires_at=self.now + valid_for,
                attempts=0,
                max_attempts=max_attempts,
                burned=False,
            )
        )
        return IssuedCode(row.id, code, row.expires_at)

    def no_issue(self, purpose: CodePurpose) -> None:
        """The work of issuing, where nothing is issued (unknown, ineligible, over a limit)."""
        self.hasher.dummy(_label(purpose))

    async def burn(self, subject: str, purpose: CodePurpose) -> None:
        await self.tx.codes.burn_all(subject, purpose)

    # -- verifying -------------------------------------------------------------------------

    async def verify_bound(
        self,
        target: Target,
        code_id: int | None,
        typed: str,
        shape: CodeShape,
        chat_id: int,
    ) -> Verification:
        """The code this conversation waits for (``code_id``) against ``typed``: it confirms
        only if it is that code, for exactly ``target``, unused, unexpired and right."""
        code = shape.normalized(typed)
        about = fingerprint(target.destination)
        slowdown = await self._slowdown(target.purpose, about)
        # The code's own tries limit guessing it; only the chat's overall count locks here,
        # so a person who used up a code can go on with a new one.
        if code is None or await self._locked(target.purpose, chat_id, about, per_account=False):
            self.hasher.dummy(_label(target.purpose))
            failure = Failure.MALFORMED if code is None else Failure.LOCKED
            return Verification(None, failure, slowdown)
        row = await self.tx.codes.get(code_id) if code_id is not None else None
        problem = self._unusable(row, target)
        stored = row.code_hash if row is not None and problem is None else None
        right = self.hasher.matches(stored, _label(target.purpose), _bound_text(target, code))
        if row is not None and problem is None and right:
            row.used_at = self.now
            return Verification(row, None, slowdown)
        failure = problem or Failure.WRONG
        if row is not None and failure is Failure.WRONG:
            row.attempts += 1  # only this conversation can type this code
            if row.attempts >= row.max_attempts:
                row.burned = True
                failure = Failure.LAST_TRY
        await self._count_failure(target.purpose, chat_id, about)
        return Verification(None, failure, slowdown)

    async def verify_found(
        self,
        purpose: CodePurpose,
        typed: str,
        shape: CodeShape,
        chat_id: int,
        identifier: str,
        subjects: Collection[str],
    ) -> Verification:
        """A code typed with an ``identifier`` (a customer number): it confirms only when its
        keyed hash finds a live code whose subject is one of ``subjects``."""
        code = shape.normalized(typed)
        about = fingerprint(identifier)
        slowdown = await self._slowdown(purpose, about)
        digests = self.hasher.digests(_label(purpose), message(code or ""))
        if code is None or await self._locked(purpose, chat_id, about, per_account=True):
            failure = Failure.MALFORMED if code is None else Failure.LOCKED
            return Verification(None, failure, slowdown)
        row = await self.tx.codes.by_digest(purpose, digests)
        problem = Failure.UNKNOWN if row is None or row.subject not in subjects else None
        problem = problem or self._unusable(row, None)
        if row is not None and problem is None:
            row.used_at = self.now
            return Verification(row, None, slowdown)
        await self._count_failure(purpose, chat_id, about)
        return Verification(None, problem or Failure.WRONG, slowdown)

    def _unusable(self, row: OneTimeCode | None, target: Target | None) -> Failure | None:
        if row is None:
            return Failure.UNKNOWN
        if target is not None and (
            row.purpose is not target.purpose
            or row.subject != target.subject
            or row.destination != target.destination
            or row.organization_id != target.organization_id
        ):
            return Failure.UNKNOWN
        if row.used_at is not None or row.burned:
            return Failure.USED_UP
        if self.now >= row.expires_at:
            return Failure.EXPIRED
        return None

    # -- limits ----------------------------------------------------------------------------

    def _chat_limit(self) -> limits.Limit:
        return limits.Limit("verify_chat", self.policy.wrong_attempts_per_hour)

    def _pair_limit(self) -> limits.Limit:
        return limits.Limit("verify_pair", self.policy.wrong_attempts_per_account)

    def _account_limit(self) -> limits.Limit:
        return limits.Limit("verify_account", self.policy.slowdown_after)

    async def _locked(
        self, purpose: CodePurpose, chat_id: int, about: str, *, per_account: bool
    ) -> bool:
        """Whether this chat failed too often: overall, or (``per_account``) for this account."""
        chat = f"chat:{chat_id}"
        if await limits.wait_needed(self.tx, self._chat_limit(), chat, self.now):
            return True
        if not per_account:
            return False
        pair = f"{purpose.value}:{chat_id}:{about}"
        return bool(await limits.wait_needed(self.tx, self._pair_limit(), pair, self.now))

    async def _count_failure(self, purpose: CodePurpose, chat_id: int, about: str) -> None:
        await limits.record(self.tx, self._chat_limit(), f"chat:{chat_id}", self.now)
        pair = f"{purpose.value}:{chat_id}:{about}"
        await limits.record(self.tx, self._pair_limit(), pair, self.now)
        await limits.record(self.tx, self._account_limit(), f"{purpose.value}:{about}", self.now)

    async def _slowdown(self, purpose: CodePurpose, about: str) -> timedelta:
        """Zero, until many chats together failed for this account within the hour; then
        each answer about it waits longer, doubling up to ``slowdown_max``."""
        failed = await limits.count(
            self.tx, self._account_limit(), f"{purpose.value}:{about}", self.now
        )
        over = failed - self.policy.slowdown_after
        if over < 0:
            return timedelta(0)
        return min(timedelta(seconds=0.5 * 2 ** min(over, 10)), self.policy.slowdown_max)
