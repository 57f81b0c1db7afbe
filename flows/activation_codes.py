"""Activation codes (seed 002): long, unambiguous, hashed at rest, single-use, one per customer.

A new code replaces the old one at once: issuing burns every unused code of the customer.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from flows.codes import CodeHasher
from flows.domain import CodePurpose
from storage.models import Customer, OneTimeCode
from storage.uow import Transaction

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""No 0/O, 1/I/L: a code read from paper is typed right the first time."""
LENGTH = 12
"""12 characters of 32 kinds: 60 bits, far beyond guessing within the attempt limits."""
MAX_ATTEMPTS = 5


def new_activation_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def formatted(code: str) -> str:
    """``ABCD-EFGH-JKMN``: easier to read aloud and to copy from a letter."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalized(typed: str) -> str:
    """What a person typed, without spaces and dashes, upper-cased."""
    return "".join(ch for ch in typed.upper() if ch.isalnum())


def subject_of(customer: Customer) -> str:
    return f"customer:{customer.id}"


async def issue(tx: Transaction, customer: Customer, now: datetime, valid_days: int) -> str:
    """Make a new code for the customer, burn any older one, and return the code (only here
    is it in plain text: the caller puts it straight into a mail or letter)."""
    subject = subject_of(customer)
    await tx.codes.burn_all(subject, CodePurpose.ACTIVATION)
    code = new_activation_code()
    await tx.codes.add(
        OneTimeCode(
            purpose=CodePurpose.ACTIVATION,
            subject=subject,
            destination=customer.customer_number,
            code_hash=await CodeHasher().hash_async(code),
            created_at=now,
            expires_at=now + timedelta(days=valid_days),
            attempts=0,
            max_attempts=MAX_ATTEMPTS,
            burned=False,
        )
    )
    return code
