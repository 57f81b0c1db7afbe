"""RFC 6238 time-based codes (an authenticator app), with the time given by the caller so
tests run on a fake clock.

A code of the previous, current or next 30-second step is accepted (a phone's clock may be
a little off), but only for a step newer than the last one accepted: a code seen once (over
a shoulder, or replayed) never works again.
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
"""Steps accepted either side of the current one."""


def new_secret() -> str:
    """A random base32 secret (160 bits), as authenticator apps take it."""
    return pyotp.random_base32(32)


def step_at(moment: datetime) -> int:
    return int(moment.timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def provisioning_uri(secret: str, account_name: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app scans (as a QR code) or takes as text."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account_name, issuer_name=issuer
    )


def accepted_step(secret: str, typed: str, now: datetime, last_step: int | None) -> int | None:
    """The step whose code ``typed`` is, when it may be accepted now; else None. Every
    candidate step is compared (in constant time), so the answer takes as long either way."""
    code = typed.strip().replace(" ", "")
    current = step_at(now)
    found: int | None = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        right = hmac.compare_digest(code_at(secret, step), code.ljust(DIGITS)[:16])
        if right and (last_step is None or step > last_step) and found is None:
            found = step
    return found


def grouped_secret(secret: str) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
