"""The portal API of the built-in directory: a portal asks whether a login's password is
right (``POST /api/v1/verify``), with its organization's API key.

Secure by construction: a login nobody has costs the same work (one argon2 verification)
and gets the same answer as a wrong password; failures are limited per login (a password
guesser is stopped whether or not the login exists) and calls per key; every answer is
audited with the login's fingerprint, never the login or the password.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flows import limits
from flows.builtin_directory import Candidate, PasswordVerifier, VerdictStatus
from flows.domain import AuditAction
from flows.model import ApiKey, Organization
from flows.store import Store, Transaction
from flows.verification import fingerprint

KEY_PREFIX = "balie_"
MAX_LOGIN_LENGTH = 320
MAX_PASSWORD_LENGTH = 1024


def key_hash(key: str) -> str:
    """Keys are 256 random bits: a plain SHA-256 cannot be reversed or guessed."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create_key(
    tx: Transaction, organization: Organization, label: str | None, now: datetime
) -> tuple[ApiKey, str]:
    """A new key for ``organization``: (its row, the key itself, to be shown once)."""
    key = new_key()
    row = await tx.api_keys.add(
        ApiKey(
            organization_id=organization.id,
            key_hash=key_hash(key),
            label=(label or "").strip()[:200] or None,
            created_at=now,
        )
    )
    await tx.audit.add(
        AuditAction.API_KEY_CREATED,
        actor="cli",
        channel="cli",
        now=now,
        organization_id=organization.id,
        key_id=row.id,
    )
    return row, key


@dataclass(frozen=True)
class VerifyLimits:
    failures_per_login_per_hour: int = 10
    calls_per_key_per_minute: int = 600


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, for the web adapter to send as it is."""

    status: int
    body: dict[str, Any]


UNAUTHORIZED = Answer(401, {"error": "unauthorized"})
BAD_REQUEST = Answer(400, {"error": 'send JSON {"login": ..., "password": ...}'})


def _too_many(wait: timedelta) -> Answer:
    return Answer(429, {"error": "too many requests", "retry_after": limits.minutes(wait) * 60})


@dataclass(frozen=True)
class _Checked:
    organization: Organization
    key_id: int
    candidate: Candidate | None
    """None: over a limit (``refusal`` says which answer)."""
    refusal: Answer | None = None


class PortalApi:
    """``verify`` for one deployment: key and limits in one short transaction, argon2
    outside any, the outcome recorded in a second."""

    def __init__(self, store: Store, verifier: PasswordVerifier, policy: VerifyLimits) -> None:
        self._store = store
        self._verifier = verifier
        self._per_login = limits.Limit("verify_login", policy.failures_per_login_per_hour)
        self._per_key = limits.Limit(
            "verify_key", policy.calls_per_key_per_minute, timedelta(minutes=1)
        )

    async def verify(self, api_key: str | None, body: object, now: datetime) -> Answer:
        if not api_key:
            return UNAUTHORIZED
        checked = await self._check(api_key, now)
        if checked is None:
            return UNAUTHORIZED
        login, password = _credentials(body)
        if login is None or password is None:
            return BAD_REQUEST
        checked = await self._look_up(checked, login, now)
        if checked.refusal is not None or checked.candidate is None:
            return checked.refusal or BAD_REQUEST
        verdict = await self._verifier.judge(checked.candidate, password)
        await self._record(checked, login, verdict.valid, verdict.status, now)
        return Answer(200, {"valid": verdict.valid, "status": verdict.status.value})

    async def _check(self, api_key: str, now: datetime) -> _Checked | None:
        async with self._store.transaction() as tx:
            row = await tx.api_keys.by_hash(key_hash(api_key.strip()))
            if row is None or row.revoked_at is not None:
                await tx.audit.add(
                    AuditAction.API_KEY_REFUSED,
                    actor="api",
                    channel="api",
                    now=now,
                    revoked=row is not None,
                )
                return None
            organization = await tx.organizations.get(row.organization_id)
            assert organization is not None  # a key is deleted with its organization
            return _Checked(organization, row.id, None)

    async def _look_up(self, checked: _Checked, login: str, now: datetime) -> _Checked:
        organization = checked.organization
        subject_key = f"key:{checked.key_id}"
        subject_login = f"{organization.id}:{fingerprint(login.strip().lower())}"
        async with self._store.transaction() as tx:
            wait = await limits.wait_needed(tx, self._per_key, subject_key, now)
            if not wait:
                wait = await limits.wait_needed(tx, self._per_login, subject_login, now)
            if wait:
                await tx.audit.add(
                    AuditAction.PASSWORD_VERIFY_LIMITED,
                    actor="api",
                    channel="api",
                    now=now,
                    organization_id=organization.id,
                    key_id=checked.key_id,
                    login=fingerprint(login.strip().lower()),
                )
                return _Checked(organization, checked.key_id, None, _too_many(wait))
            await limits.record(tx, self._per_key, subject_key, now)
            candidate = await self._verifier.candidate(tx, organization, login, now.date())
        return _Checked(organization, checked.key_id, candidate)

    async def _record(
        self, checked: _Checked, login: str, valid: bool, status: VerdictStatus, now: datetime
    ) -> None:
        organization = checked.organization
        async with self._store.transaction() as tx:
            if not valid:
                subject_login = f"{organization.id}:{fingerprint(login.strip().lower())}"
                await limits.record(tx, self._per_login, subject_login, now)
            key = await tx.api_keys.get(checked.key_id)
            if key is not None:
                await tx.api_keys.used(key, now)
            await tx.audit.add(
                AuditAction.PASSWORD_VERIFIED if valid else AuditAction.PASSWORD_VERIFY_FAILED,
                actor=f"api:{checked.key_id}",
                channel="api",
                now=now,
                organization_id=organization.id,
                login=fingerprint(login.strip().lower()),
                status=status.value,
            )


def _credentials(body: object) -> tuple[str | None, str | None]:
    if not isinstance(body, dict):
        return None, None
    login, password = body.get("login"), body.get("password")
    if not isinstance(login, str) or not isinstance(password, str):
        return None, None
    if not login.strip() or len(login) > MAX_LOGIN_LENGTH or len(password) > MAX_PASSWORD_LENGTH:
        return None, None
    return login, password
