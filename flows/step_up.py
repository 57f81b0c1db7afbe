"""Step-up: the second factor asked again before something that matters (seed 003's
two-step verification), then the step that asked goes on.

A flow calls :func:`require` with what it is about to do; True means go on now (the
account has no second factor, or proved it moments ago); False means the chat was asked
for the second factor and, once given, the desk runs the purpose's resumer with ``data``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from flows.own_account import OwnAccount
from flows.turn import Turn


class StepUpPurpose(StrEnum):
    PASSWORD_RESET = "password_reset"
    PAIR_DEVICE = "pair_device"
    DISABLE_TWO_STEP = "disable_two_step"
    NEW_RECOVERY_CODES = "new_recovery_codes"
    STAFF_COMMAND = "staff_command"


async def require(
    turn: Turn, account: OwnAccount, purpose: StepUpPurpose, data: dict[str, Any]
) -> bool:
    """True: go on now. Two-step verification is not built yet: always True."""
    return True
