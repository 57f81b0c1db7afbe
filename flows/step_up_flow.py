"""The second factor typed at a step-up (``ConversationState.SECOND_FACTOR``), then the
step that asked for it goes on (:data:`RESUMERS`).

```mermaid
stateDiagram-v2
    [*] --> SECOND_FACTOR: step_up.require (reset, turn off, new codes, staff command)
    SECOND_FACTOR --> IDLE: right app code, SMS code or recovery code: the purpose resumes
    SECOND_FACTOR --> IDLE: fifth wrong code, or too many for the account this hour
```

An app code is accepted from the previous, current or next 30-second step, never one
accepted before; an SMS code is bound to this chat's step-up; a recovery code is burned and
the person told how many are left. Every wrong code gets the same words.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from flows import commands, devices, limits, password_flow, totp, two_step
from flows.domain import AuditAction, CodePurpose, ConversationState
from flows.events import Event, EventKind
from flows.model import SecondFactor
from flows.own_account import OwnAccount, Owner, OwnerKind, load
from flows.step_up import (
    SECOND_FACTOR_ATTEMPTS,
    Method,
    SecondFactorStep,
    StepUpPurpose,
    cancel_keyboard,
    sms_target,
    wrong_limit,
    wrong_limit_of_account,
)
from flows.turn import Turn
from flows.verification import SHORT_CODE, CodeService

Resumer = Callable[[Turn, OwnAccount, dict[str, Any]], Awaitable[None]]


async def _resume_reset(turn: Turn, account: OwnAccount, data: dict[str, Any]) -> None:
    """The reset's address and second factor are proved: choose the new password."""
    customer = account.customer
    if (
        account.owner.kind is not OwnerKind.CUSTOMER
        or customer is None
        or customer.id != data.get("customer_id")
        or not password_flow.may_reset(customer)
    ):
        turn.say("reset_code_used_up")
        return
    password_flow.ask_for_password(turn, customer, reason="reset")


async def _turn_off(turn: Turn, account: OwnAccount, data: dict[str, Any]) -> None:
    await two_step.turn_off(turn, account)


async def _new_codes(turn: Turn, account: OwnAccount, data: dict[str, Any]) -> None:
    await two_step.renew_codes(turn, account)


async def _staff_command(turn: Turn, account: OwnAccount, data: dict[str, Any]) -> None:
    """Run the staff command (or press the staff button) that asked for the second factor:
    the chat is fresh now, so its own checks let it through."""
    event = turn.event
    if isinstance(data.get("command"), str):
        name, text = data["command"], str(data.get("text") or "")
        turn.event = Event(
            event.chat_id,
            event.sender,
            EventKind.COMMAND,
            text=text,
            command=name,
            typed=f"/{name} {text}".strip(),
            update_id=event.update_id,
        )
        await commands.answer_command(turn, name)
    elif isinstance(data.get("button"), str):
        from flows import desk  # the desk imports this module for its STEPS

        turn.event = Event(
            event.chat_id,
            event.sender,
            EventKind.BUTTON,
            button_data=data["button"],
            update_id=event.update_id,
        )
        await desk.on_button(turn)


RESUMERS: dict[StepUpPurpose, Resumer] = {
    StepUpPurpose.PASSWORD_RESET: _resume_reset,
    StepUpPurpose.DISABLE_TWO_STEP: _turn_off,
    StepUpPurpose.NEW_RECOVERY_CODES: _new_codes,
    StepUpPurpose.STAFF_COMMAND: _staff_command,
    StepUpPurpose.PAIR_DEVICE: devices.finish_pairing,
}
"""What runs once the second factor is given, per purpose."""


async def on_second_factor(turn: Turn) -> None:
    """The typed second factor, deleted from the chat whatever it is."""
    turn.outcome.delete_message = True
    step = turn.data_as(SecondFactorStep)
    owner = Owner.parse(step.owner)
    account = await load(turn.tx, owner) if owner is not None else None
    factor = await turn.tx.two_step.factor(step.owner) if account is not None else None
    resume = RESUMERS.get(step.purpose)
    if account is None or factor is None or resume is None:
        turn.move(ConversationState.IDLE)
        turn.say("stale_button")
        return
    counts = (
        (wrong_limit(turn), f"chat:{turn.event.chat_id}"),
        (wrong_limit_of_account(turn), step.owner),
    )
    for limit, subject in counts:
        wait = await limits.wait_needed(turn.tx, limit, subject, turn.now)
        if wait:
            await turn.audit(AuditAction.TWO_STEP_LIMITED, organization_id=account.organization.id)
            turn.move(ConversationState.IDLE)
            turn.say("second_factor_locked")
            return
    left = await _accepted(turn, account, factor, step)
    if left is False:
        await _wrong(turn, account, step, counts)
        return
    await turn.tx.two_step.freshen(turn.event.chat_id, step.owner, turn.now)
    await turn.audit(
        AuditAction.TWO_STEP_PASSED,
        organization_id=account.organization.id,
        owner=step.owner,
        purpose=step.purpose.value,
        recovery=left is not True,
    )
    turn.move(ConversationState.IDLE)
    if left is not True:
        await two_step.recovery_code_used(turn, account, left)
    await resume(turn, account, step.data)


async def _accepted(
    turn: Turn, account: OwnAccount, factor: SecondFactor, step: SecondFactorStep
) -> bool | int:
    """True: the app's or the SMS code; an int: a recovery code, burned (that many left);
    False: not a code that proves it."""
    typed = turn.event.text
    if SHORT_CODE.normalized(typed) is not None:
        if factor.method == Method.TOTP:
            secret = turn.tx.two_step.secret(factor) or ""
            found = totp.accepted_step(secret, typed, turn.now, factor.last_totp_step)
            if found is None:
                return False
            factor.last_totp_step = found
            return True
        if not factor.phone:
            return False
        result = await CodeService.of(turn).verify_bound(
            sms_target(turn.event.chat_id, step.owner, factor.phone, account.organization.id),
            step.code_id,
            typed,
            SHORT_CODE,
            turn.event.chat_id,
        )
        return result.confirmed
    used = await two_step.matching_recovery_code(turn, step.owner, typed)
    if used is None:
        return False
    used.used_at = turn.now
    return len(await turn.tx.two_step.recovery_codes(step.owner))


async def _wrong(
    turn: Turn,
    account: OwnAccount,
    step: SecondFactorStep,
    counts: tuple[tuple[limits.Limit, str], ...],
) -> None:
    for limit, subject in counts:
        await limits.record(turn.tx, limit, subject, turn.now)
    await turn.audit(AuditAction.TWO_STEP_WRONG, organization_id=account.organization.id)
    wrong = step.wrong + 1
    if wrong >= SECOND_FACTOR_ATTEMPTS:
        await CodeService.of(turn).burn(
            f"two_step:{turn.event.chat_id}:{step.owner}", CodePurpose.TWO_STEP
        )
        turn.move(ConversationState.IDLE)
        turn.say("second_factor_used_up")
        return
    turn.move(ConversationState.SECOND_FACTOR, replace(step, wrong=wrong))
    turn.say("second_factor_wrong", cancel_keyboard(turn), left=SECOND_FACTOR_ATTEMPTS - wrong)


STEPS = {ConversationState.SECOND_FACTOR: on_second_factor}
