"""Step-up: the second factor asked again before something that matters (seed 003's
two-step verification), then the step that asked goes on.

A flow calls :func:`require` with what it is about to do; True means go on now (the
account has no second factor, or, for a staff command, this chat proved it and has been
busy since); False means the chat was asked for the second factor and, once given,
``flows.step_up_flow`` runs the purpose's resumer with ``data``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flows import limits, sms_budget
from flows.buttons import Menu, MenuChoice, encode
from flows.domain import AuditAction, CodePurpose, ConversationState, DeliveryChannel
from flows.events import Keyboard
from flows.model import Person, SecondFactor
from flows.own_account import OwnAccount, of_person
from flows.texts import Texts
from flows.turn import Turn
from flows.verification import SHORT_CODE, CodeService, Target

SECOND_FACTOR_ATTEMPTS = 5
"""Wrong codes one step-up may take; then it ends (and the SMS code is burned)."""

REQUIRED_FOR_STAFF = "staff"
"""``organizations.require_two_step``: staff and managers must use two-step."""


class StepUpPurpose(StrEnum):
    PASSWORD_RESET = "password_reset"
    PAIR_DEVICE = "pair_device"
    DISABLE_TWO_STEP = "disable_two_step"
    NEW_RECOVERY_CODES = "new_recovery_codes"
    STAFF_COMMAND = "staff_command"


class Method(StrEnum):
    SMS = "sms"
    TOTP = "totp"


@dataclass(frozen=True)
class SecondFactorStep:
    """What the chat is asked the second factor for: the purpose, the account (its key),
    the purpose's data (JSON) and the SMS code sent, if any."""

    purpose: StepUpPurpose
    owner: str
    payload: str
    code_id: int | None = None
    wrong: int = 0

    @property
    def data(self) -> dict[str, Any]:
        loaded = json.loads(self.payload)
        return loaded if isinstance(loaded, dict) else {}


def cancel_keyboard(turn: Turn) -> Keyboard:
    return ((turn.button("button_cancel", encode(Menu(MenuChoice.CANCEL))),),)


def sms_target(chat_id: int, owner_key: str, phone: str, organization_id: int) -> Target:
    """Each chat's code for each account: another chat's step-up never burns it."""
    return Target(CodePurpose.TWO_STEP, f"two_step:{chat_id}:{owner_key}", phone, organization_id)


def wrong_limit(turn: Turn) -> limits.Limit:
    """Wrong second factors one chat may type in an hour."""
    return limits.Limit("second_factor", turn.policy.wrong_attempts_per_account)


def wrong_limit_of_account(turn: Turn) -> limits.Limit:
    """Wrong second factors typed for one account from all chats in an hour: guessing from
    many chats (each of which proved the address) stops there too."""
    return limits.Limit("second_factor_account", turn.policy.wrong_attempts_per_hour)


async def send_sms_code(turn: Turn, account: OwnAccount, phone: str) -> int | None:
    """A two-step SMS code to ``phone``, queued (sealed) like every code; its id, or None
    when the SMS budget is spent (the person may still use a recovery code)."""
    organization_id = account.organization.id
    if not await sms_budget.has_room(turn.tx, turn.policy, organization_id, turn.now):
        await turn.audit(AuditAction.CODE_SMS_BUDGET, organization_id=organization_id)
        return None
    valid_for = turn.policy.code_valid_for
    issued = await CodeService.of(turn).issue(
        sms_target(turn.event.chat_id, account.owner.key, phone, organization_id),
        SHORT_CODE,
        valid_for,
        SECOND_FACTOR_ATTEMPTS,
    )
    await sms_budget.spend(turn.tx, turn.policy, organization_id, turn.now)
    texts = Texts(turn.language)
    await turn.tx.outbox.add(
        DeliveryChannel.SMS,
        phone,
        texts(
            "sms_two_step",
            org=account.organization.name,
            code=issued.code,
            minutes=int(valid_for.total_seconds() // 60),
        ),
        turn.now,
        sensitive=True,
        expires_at=turn.now + valid_for,
        notify_chat=turn.event.chat_id,
        organization_id=organization_id,
    )
    return issued.id


async def require(
    turn: Turn, account: OwnAccount, purpose: StepUpPurpose, data: dict[str, Any]
) -> bool:
    """True: go on now. False: the chat now waits for the second factor."""
    key = account.owner.key
    factor = await turn.tx.two_step.factor(key)
    if factor is None:
        return True
    if purpose is StepUpPurpose.STAFF_COMMAND:
        chat = turn.event.chat_id
        fresh = await turn.tx.two_step.fresh_at(chat, key)
        if fresh is not None and turn.now - fresh < turn.policy.staff_step_up_idle:
            await turn.tx.two_step.freshen(chat, key, turn.now)  # busy: the idle time restarts
            return True
    await _ask(turn, account, factor, purpose, data)
    return False


async def _ask(
    turn: Turn,
    account: OwnAccount,
    factor: SecondFactor,
    purpose: StepUpPurpose,
    data: dict[str, Any],
) -> None:
    code_id = None
    if factor.method == Method.SMS and factor.phone:
        code_id = await send_sms_code(turn, account, factor.phone)
    step = SecondFactorStep(purpose, account.owner.key, json.dumps(data), code_id)
    turn.move(ConversationState.SECOND_FACTOR, step)
    say_ask(turn, factor)


def say_ask(turn: Turn, factor: SecondFactor | None) -> None:
    by_sms = factor is not None and factor.method == Method.SMS
    turn.say("second_factor_ask_sms" if by_sms else "second_factor_ask_app", cancel_keyboard(turn))


async def repeat_step(turn: Turn) -> None:
    """The question again (after a sticker, or a reopened chat); no new SMS."""
    step = turn.data_as(SecondFactorStep)
    say_ask(turn, await turn.tx.two_step.factor(step.owner))


async def staff_gate(turn: Turn, person: Person, data: dict[str, Any]) -> bool:
    """Whether a staff command (or a signed staff button) of ``person`` may run now. Where
    the organization requires two-step, one without it is refused, and one with it is asked
    again after the idle time (then ``data`` runs after the second factor)."""
    if person.organization.require_two_step != REQUIRED_FOR_STAFF:
        return True
    account = of_person(person)
    if await turn.tx.two_step.factor(account.owner.key) is None:
        await turn.audit(
            AuditAction.TWO_STEP_REQUIRED,
            organization_id=person.organization_id,
            actor_person_id=person.id,
        )
        turn.outcome.callback_notice = turn.texts("two_step_required_staff")
        turn.say("two_step_required_staff")
        return False
    return await require(turn, account, StepUpPurpose.STAFF_COMMAND, data)
