"""Activation codes (seed 002): long, unambiguous, keyed-hashed at rest, single-use.

The code service (``flows.verification``) makes and checks them; this module says what they
look like on paper and whom they belong to.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flows.domain import CodePurpose
from flows.keys import KeyedHasher
from flows.model import Customer
from flows.store import Transaction
from flows.turn import DeskPolicy
from flows.verification import ACTIVATION_CODE, CodeService, IssuedCode, Target

ALPHABET = ACTIVATION_CODE.alphabet
LENGTH = ACTIVATION_CODE.length
"""12 characters of 32 kinds: 60 bits, far beyond guessing within the attempt limits."""


def formatted(code: str) -> str:
    """``ABCD-EFGH-JKMN``: easier to read aloud and to copy from a letter."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalized(typed: str) -> str:
    """What a person typed, without spaces and dashes, upper-cased."""
    return "".join(ch for ch in typed.upper() if ch.isalnum())


def subject_of(customer: Customer) -> str:
    return f"customer:{customer.id}"


async def issue(
    tx: Transaction,
    hasher: KeyedHasher,
    customer: Customer,
    destination: str,
    now: datetime,
    valid_days: int,
    *,
    replace_earlier: bool = True,
) -> IssuedCode:
    """A new code for the customer, sent to ``destination`` (an address, or ``letter``).

    ``replace_earlier``: staff released it (or a letter is printed), so older codes go at
    once; a code asked for from an unproven chat leaves them alone, and whichever is
    redeemed first voids the rest.
    """
    codes = CodeService(tx, hasher, DeskPolicy(), now)
    target = Target(
        CodePurpose.ACTIVATION, subject_of(customer), destination, customer.organization_id
    )
    valid_for = timedelta(days=valid_days)
    if replace_earlier:
        return await codes.issue(target, ACTIVATION_CODE, valid_for)
    return await codes.issue_alongside(target, ACTIVATION_CODE, valid_for)
