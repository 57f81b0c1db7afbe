"""``/security``: two-step verification of one's own account (seed 003's "2-staps
verificatie" and "herstelcode"), turned on by SMS or an authenticator app, turned off, and
new recovery codes.

```mermaid
stateDiagram-v2
    [*] --> TWO_STEP_PHONE: By SMS, no mobile number on file
    [*] --> TWO_STEP_CONFIRM: By SMS (code sent) / By app (QR and secret shown)
    TWO_STEP_PHONE --> TWO_STEP_CONFIRM: a mobile number (code sent to it)
    TWO_STEP_CONFIRM --> TWO_STEP_RECOVERY_CONFIRM: right code: 10 recovery codes shown once
    TWO_STEP_RECOVERY_CONFIRM --> IDLE: one of them typed back: two-step is on
    [*] --> SECOND_FACTOR: Turn off / New recovery codes (see flows.step_up)
```

The seed shows one recovery code in clear on a page; Balie makes ten, random, shows them
once and keeps only their keyed hashes. The authenticator's secret is sealed at rest. Every
change is a security notice to the account's other chats and its e-mail, and audited.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from flows import limits, step_up, totp
from flows.buttons import Security, SecurityChoice, signed
from flows.contacts import Contact, parse_mobile
from flows.domain import AuditAction, ConversationState
from flows.events import Button, Keyboard, Reply
from flows.keys import message
from flows.model import RecoveryCode
from flows.notices import NoticeKind, notify
from flows.own_account import OwnAccount, account_of_chat
from flows.step_up import Method, StepUpPurpose, cancel_keyboard
from flows.turn import Turn
from flows.verification import SHORT_CODE, CodeService, CodeShape, Failure

RECOVERY_CODES = 10
RECOVERY_CODE = CodeShape("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", 10, ignore=" -")
"""Ten characters without 0/O and 1/I/L (50 bits), shown as ``ABCDE-FGHJK``."""
_RECOVERY_LABEL = "recovery_code"
ENROL_ATTEMPTS = 5


@dataclass(frozen=True)
class Enrolment:
    """Turning two-step on for account ``owner``: by which method, the SMS code sent."""

    owner: str
    method: Method
    code_id: int | None = None
    wrong: int = 0


# -- recovery codes -----------------------------------------------------------------------


def recovery_digest_text(owner_key: str, code: str) -> str:
    return message(owner_key, code)


def grouped(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


async def new_recovery_codes(turn: Turn, account: OwnAccount) -> list[str]:
    """Ten new codes for ``account``, in clear only in the returned list; the old set is void."""
    codes = [RECOVERY_CODE.new() for _ in range(RECOVERY_CODES)]
    key = account.owner.key
    hashes = [turn.hasher.digest(_RECOVERY_LABEL, recovery_digest_text(key, c)) for c in codes]
    await turn.tx.two_step.replace_recovery_codes(key, hashes, turn.now)
    return codes


async def matching_recovery_code(turn: Turn, owner_key: str, typed: str) -> RecoveryCode | None:
    """The unused recovery code ``typed`` is, if any: found by its keyed hash (one hash per
    key of the server, whatever was typed)."""
    code = RECOVERY_CODE.normalized(typed)
    digests = set(turn.hasher.digests(_RECOVERY_LABEL, recovery_digest_text(owner_key, code or "")))
    if code is None:
        return None
    unused = await turn.tx.two_step.recovery_codes(owner_key)
    return next((row for row in unused if row.code_hash in digests), None)


def _show_codes(turn: Turn, account: OwnAccount, codes: list[str]) -> None:
    """The codes, once, with a button that takes them out of the chat's history when they
    are written down: a chat on a lost phone then holds no way past the second factor."""
    lines = [f"{grouped(a)}   {grouped(b)}" for a, b in zip(codes[::2], codes[1::2], strict=True)]
    hide = _button(turn, "button_two_step_hide_codes", account, SecurityChoice.HIDE_CODES)
    turn.say("two_step_recovery_codes", ((hide,),), codes="\n".join(lines))


# -- /security ----------------------------------------------------------------------------


def _button(turn: Turn, label: str, account: OwnAccount, choice: SecurityChoice) -> Button:
    data = signed(turn.hasher, Security(account.owner.key, choice), turn.event.chat_id)
    return turn.button(label, data)


async def show(turn: Turn) -> None:
    """``/security``: whether two-step is on, and the buttons to change it."""
    account = await account_of_chat(turn.tx, turn.event.chat_id)
    if account is None:
        turn.say("two_step_link_first")
        return
    factor = await turn.tx.two_step.factor(account.owner.key)
    if factor is None:
        buttons: Keyboard = (
            (_button(turn, "button_two_step_sms", account, SecurityChoice.BY_SMS),),
            (_button(turn, "button_two_step_app", account, SecurityChoice.BY_APP),),
        )
        turn.say("two_step_status_off", buttons)
        return
    left = len(await turn.tx.two_step.recovery_codes(account.owner.key))
    buttons = (
        (_button(turn, "button_two_step_new_codes", account, SecurityChoice.NEW_CODES),),
        (_button(turn, "button_two_step_off", account, SecurityChoice.TURN_OFF),),
    )
    method = turn.texts(
        "two_step_method_sms" if factor.method == Method.SMS else "two_step_method_app"
    )
    turn.say("two_step_status_on", buttons, method=method, left=left)


async def on_button(turn: Turn, action: Security) -> None:
    """A verified ``/security`` button; it acts only while the chat still acts for the
    account it was made for."""
    if action.choice is SecurityChoice.HIDE_CODES:
        # Only the pressed message changes (its text, and so its button, replaced): the
        # conversation stays where it is.
        turn.outcome.edit_pressed = Reply(turn.texts("two_step_recovery_codes_hidden"))
        return
    turn.outcome.clear_pressed_buttons = True
    account = await account_of_chat(turn.tx, turn.event.chat_id)
    if account is None or account.owner.key != action.owner:
        turn.outcome.callback_notice = turn.texts("stale_button")
        turn.say("stale_button")
        return
    factor = await turn.tx.two_step.factor(account.owner.key)
    choice = action.choice
    if choice in {SecurityChoice.BY_SMS, SecurityChoice.BY_APP}:
        if factor is not None:
            await show(turn)
        elif choice is SecurityChoice.BY_SMS:
            await _begin_sms(turn, account)
        else:
            await _begin_app(turn, account)
        return
    if factor is None:
        await show(turn)
        return
    if choice is SecurityChoice.TURN_OFF:
        if await step_up.require(turn, account, StepUpPurpose.DISABLE_TWO_STEP, {}):
            await turn_off(turn, account)
    elif await step_up.require(turn, account, StepUpPurpose.NEW_RECOVERY_CODES, {}):
        await renew_codes(turn, account)


# -- turning it on ------------------------------------------------------------------------


def _mobile(turn: Turn, phone: str | None) -> str | None:
    if not phone:
        return None
    parsed = parse_mobile(phone, countries=turn.policy.sms_countries)
    return parsed.value if isinstance(parsed, Contact) else None


async def _begin_sms(turn: Turn, account: OwnAccount) -> None:
    phone = _mobile(turn, account.phone)
    if phone is None:
        turn.move(ConversationState.TWO_STEP_PHONE, Enrolment(account.owner.key, Method.SMS))
        turn.say("two_step_ask_phone", cancel_keyboard(turn))
        return
    await _send_enrolment_code(turn, account, phone)


async def on_phone(turn: Turn) -> None:
    """A mobile number for two-step by SMS: it is proved by the code sent to it."""
    data = turn.data_as(Enrolment)
    account = await _own(turn, data.owner)
    if account is None:
        return
    parsed = parse_mobile(turn.event.text, countries=turn.policy.sms_countries)
    if not isinstance(parsed, Contact):
        turn.say("two_step_phone_invalid", cancel_keyboard(turn))
        return
    await _send_enrolment_code(turn, account, parsed.value)


async def _send_enrolment_code(turn: Turn, account: OwnAccount, phone: str) -> None:
    code_id = await step_up.send_sms_code(turn, account, phone)
    if code_id is None:
        turn.move(ConversationState.IDLE)
        turn.say("two_step_sms_unavailable")
        return
    await turn.tx.two_step.start(account.owner.key, Method.SMS, turn.now, phone=phone, secret=None)
    turn.move(ConversationState.TWO_STEP_CONFIRM, Enrolment(account.owner.key, Method.SMS, code_id))
    turn.say("two_step_sms_sent", cancel_keyboard(turn))


async def _begin_app(turn: Turn, account: OwnAccount) -> None:
    secret = totp.new_secret()
    await turn.tx.two_step.start(
        account.owner.key, Method.TOTP, turn.now, phone=None, secret=secret
    )
    issuer = account.organization.name
    uri = totp.provisioning_uri(secret, account.email or account.name, issuer)
    turn.move(ConversationState.TWO_STEP_CONFIRM, Enrolment(account.owner.key, Method.TOTP))
    text = turn.texts("two_step_app_scan", secret=totp.grouped_secret(secret))
    turn.outcome.replies.append(Reply(text, cancel_keyboard(turn), qr=uri))


async def _own(turn: Turn, owner_key: str) -> OwnAccount | None:
    """The chat's account, if it is still ``owner_key``'s; else the step ends."""
    account = await account_of_chat(turn.tx, turn.event.chat_id)
    if account is None or account.owner.key != owner_key:
        turn.move(ConversationState.IDLE)
        turn.say("stale_button")
        return None
    return account


async def on_confirm_code(turn: Turn) -> None:
    """The first code of the new factor (from the app, or the SMS): deleted from the chat."""
    turn.outcome.delete_message = True
    data = turn.data_as(Enrolment)
    account = await _own(turn, data.owner)
    if account is None:
        return
    pending = await turn.tx.two_step.pending(data.owner)
    if pending is None:
        turn.move(ConversationState.IDLE)
        turn.say("stale_button")
        return
    chat = f"chat:{turn.event.chat_id}"
    if await limits.wait_needed(turn.tx, step_up.wrong_limit(turn), chat, turn.now):
        turn.move(ConversationState.IDLE)
        turn.say("second_factor_locked")
        return
    right = False
    if data.method is Method.TOTP:
        secret = turn.tx.two_step.secret(pending)
        step = totp.accepted_step(secret or "", turn.event.text, turn.now, pending.last_totp_step)
        if step is not None:
            pending.last_totp_step = step
            right = True
    elif pending.phone:
        result = await CodeService.of(turn).verify_bound(
            step_up.sms_target(
                turn.event.chat_id, data.owner, pending.phone, account.organization.id
            ),
            data.code_id,
            turn.event.text,
            SHORT_CODE,
            turn.event.chat_id,
        )
        right = result.confirmed
        if result.failure is Failure.MALFORMED:
            turn.outcome.delete_message = False
    if not right:
        await limits.record(turn.tx, step_up.wrong_limit(turn), chat, turn.now)
        wrong = data.wrong + 1
        if wrong >= ENROL_ATTEMPTS:
            turn.move(ConversationState.IDLE)
            turn.say("second_factor_used_up")
            return
        turn.move(ConversationState.TWO_STEP_CONFIRM, replace(data, wrong=wrong))
        turn.say("second_factor_wrong", cancel_keyboard(turn), left=ENROL_ATTEMPTS - wrong)
        return
    codes = await new_recovery_codes(turn, account)
    turn.move(ConversationState.TWO_STEP_RECOVERY_CONFIRM, Enrolment(data.owner, data.method))
    _show_codes(turn, account, codes)
    turn.say("two_step_recovery_type_one", cancel_keyboard(turn))


async def on_recovery_confirm(turn: Turn) -> None:
    """One of the codes typed back proves they were written down: now two-step is on."""
    turn.outcome.delete_message = True
    data = turn.data_as(Enrolment)
    account = await _own(turn, data.owner)
    if account is None:
        return
    if await matching_recovery_code(turn, data.owner, turn.event.text) is None:
        wrong = data.wrong + 1
        if wrong >= ENROL_ATTEMPTS:
            turn.move(ConversationState.IDLE)
            turn.say("two_step_not_on")
            return
        turn.move(ConversationState.TWO_STEP_RECOVERY_CONFIRM, replace(data, wrong=wrong))
        turn.say("two_step_recovery_not_one", cancel_keyboard(turn))
        return
    factor = await turn.tx.two_step.confirm(data.owner, turn.now)
    if factor is None:
        turn.move(ConversationState.IDLE)
        turn.say("stale_button")
        return
    await turn.tx.two_step.freshen(turn.event.chat_id, data.owner, turn.now)
    await _record(
        turn, account, AuditAction.TWO_STEP_ENABLED, "notice_two_step_on", method=factor.method
    )
    turn.move(ConversationState.IDLE)
    turn.say("two_step_on")


# -- turning it off, new codes --------------------------------------------------------------


async def turn_off(turn: Turn, account: OwnAccount) -> None:
    """After the second factor (``StepUpPurpose.DISABLE_TWO_STEP``)."""
    await turn.tx.two_step.remove(account.owner.key)
    await _record(turn, account, AuditAction.TWO_STEP_DISABLED, "notice_two_step_off")
    turn.move(ConversationState.IDLE)
    turn.say("two_step_off")


async def renew_codes(turn: Turn, account: OwnAccount) -> None:
    """After the second factor (``StepUpPurpose.NEW_RECOVERY_CODES``): the old set is void."""
    codes = await new_recovery_codes(turn, account)
    await _record(turn, account, AuditAction.TWO_STEP_CODES_RENEWED, "notice_two_step_new_codes")
    turn.move(ConversationState.IDLE)
    _show_codes(turn, account, codes)
    turn.say("two_step_new_codes_done")


async def recovery_code_used(turn: Turn, account: OwnAccount, left: int) -> None:
    await _record(
        turn,
        account,
        AuditAction.TWO_STEP_RECOVERY_USED,
        "notice_two_step_recovery_used",
        left=left,
    )
    turn.say("second_factor_recovery_left", left=left)


async def _record(
    turn: Turn, account: OwnAccount, action: AuditAction, notice: str, **details: object
) -> None:
    """Audit the change, and tell the account's other chats and its e-mail."""
    await turn.audit(
        action,
        organization_id=account.organization.id,
        owner=account.owner.key,
        chat_id=turn.event.chat_id,
        **details,
    )
    org = account.organization.name
    now = turn.now
    await notify(
        turn.tx,
        account,
        NoticeKind.SECURITY,
        body=lambda texts: texts(notice, org=org, name=account.name, when=texts.when(now)),
        now=turn.now,
        subject=lambda texts: texts("notice_two_step_subject", org=org),
        default_language=turn.policy.default_language,
        skip_chat=turn.event.chat_id,
    )


async def repeat_step(turn: Turn) -> None:
    if turn.state is ConversationState.TWO_STEP_PHONE:
        turn.say("two_step_ask_phone", cancel_keyboard(turn))
    elif turn.state is ConversationState.TWO_STEP_RECOVERY_CONFIRM:
        turn.say("two_step_recovery_type_one", cancel_keyboard(turn))
    else:
        data = turn.data_as(Enrolment)
        turn.say(
            "two_step_sms_sent" if data.method is Method.SMS else "two_step_app_type_code",
            cancel_keyboard(turn),
        )


STEPS = {
    ConversationState.TWO_STEP_PHONE: on_phone,
    ConversationState.TWO_STEP_CONFIRM: on_confirm_code,
    ConversationState.TWO_STEP_RECOVERY_CONFIRM: on_recovery_confirm,
}
