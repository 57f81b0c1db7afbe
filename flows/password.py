"""Choosing a password, and resetting a forgotten one (seeds 003 and 004, done securely).

```mermaid
stateDiagram-v2
    [*] --> RESET_IDENTIFIER: Forgot password / password
    RESET_IDENTIFIER --> RESET_CODE: any address or number (one neutral answer)
    RESET_CODE --> CHOOSE_PASSWORD: right code
    RESET_CODE --> IDLE: fifth wrong code (the code is burned, the account never locked)
    CHOOSE_PASSWORD --> IDLE: password meets the organization's policy
```

The seeds tell a stranger "unknown user" and mail passwords in plain text; Balie answers the
same sentence whether or not an account exists, queues (never awaits) the code, deletes the
typed password from the chat at once, and keeps only an argon2 hash.
"""

from __future__ import annotations

import asyncio

from flows import activation_codes, limits
from flows.buttons import Menu, MenuChoice, encode
from flows.codes import CodeHasher, numeric_code
from flows.contacts import Contact, parse_email, parse_mobile
from flows.domain import CodePurpose, ConversationState, DeliveryChannel
from flows.events import Keyboard
from flows.passwords import PasswordHasher, PasswordPolicy, check
from flows.texts import Texts
from flows.turn import Turn
from storage.models import Customer, OneTimeCode

RESET_ATTEMPTS = 5


def _cancel(turn: Turn) -> Keyboard:
    return ((turn.button("button_cancel", encode(Menu(MenuChoice.CANCEL))),),)


def policy_sentence(texts: Texts, policy: PasswordPolicy) -> str:
    return texts(f"password_rules_{policy.name.value}", min=policy.min_length)


def ask_for_password(turn: Turn, customer: Customer, reason: str) -> None:
    policy = PasswordPolicy.for_organization(customer.organization)
    turn.move(ConversationState.CHOOSE_PASSWORD, {"customer_id": customer.id, "reason": reason})
    turn.say("ask_password", _cancel(turn), rules=policy_sentence(turn.texts, policy))


async def on_password(turn: Turn) -> None:
    """The typed password is deleted from the chat whatever happens next."""
    turn.outcome.delete_message = True
    customer = await turn.tx.customer_accounts.get(int(turn.data["customer_id"]))
    if customer is None:
        turn.move(ConversationState.IDLE)
        turn.say("stale_button")
        return
    organization = customer.organization
    policy = PasswordPolicy.for_organization(organization)
    violations = check(
        policy,
        turn.event.text,
        (customer.email, customer.customer_number, customer.name, organization.name),
    )
    if violations:
        lines = [turn.texts("password_refused")]
        lines += [f"- {violation.explain(turn.language)}" for violation in violations]
        lines.append(turn.texts("password_try_again"))
        turn.say_text("\n".join(lines), _cancel(turn))
        return
    customer.password_hash = await asyncio.to_thread(PasswordHasher().hash, turn.event.text)
    customer.password_changed_at = turn.now
    await turn.tx.codes.burn_all(activation_codes.subject_of(customer), CodePurpose.PASSWORD_RESET)
    await turn.audit(
        "password_changed",
        organization_id=organization.id,
        customer_number=customer.customer_number,
        reason=turn.data.get("reason"),
    )
    if customer.email:
        texts = Texts(turn.language)
        await turn.tx.outbox.add(
            DeliveryChannel.EMAIL,
            customer.email,
            texts(
                "mail_password_changed_body",
                name=customer.name,
                org=organization.name,
                when=texts.when(turn.now),
                contact=organization.desk_contact or texts("desk_contact_default"),
            ),
            turn.now,
            subject=texts("mail_password_changed_subject"),
        )
    turn.move(ConversationState.IDLE)
    turn.say("password_set")


# -- forgotten password ----------------------------------------------------------------------


def _reset_request_limit(turn: Turn) -> limits.Limit:
    return limits.Limit("reset_request", turn.policy.code_requests_per_hour)


async def begin_reset(turn: Turn) -> None:
    turn.move(ConversationState.RESET_IDENTIFIER)
    turn.say("ask_reset_identifier", _cancel(turn))


def _identifier(text: str) -> Contact | None:
    text = text.strip()
    parsed = parse_email(text) if "@" in text else parse_mobile(text)
    if isinstance(parsed, Contact):
        return parsed
    if "@" in text and parsed.reason == "contact_role_address":
        return Contact(DeliveryChannel.EMAIL, text.lower())
    return None


async def on_reset_identifier(turn: Turn) -> None:
    identifier = _identifier(turn.event.text)
    if identifier is None:
        turn.say("reset_identifier_invalid", _cancel(turn))
        return
    chat = f"chat:{turn.event.chat_id}"
    wait = await limits.wait_needed(turn.tx, _reset_request_limit(turn), chat, turn.now)
    if wait:
        await turn.audit("reset_request_limited", subject=chat)
        turn.move(ConversationState.IDLE)
        turn.say("activation_wait", minutes=limits.minutes(wait))
        return
    await limits.record(turn.tx, _reset_request_limit(turn), chat, turn.now)
    accounts = await turn.tx.customer_accounts.active_accounts_for(
        identifier.channel, identifier.value
    )
    hasher = CodeHasher()
    if not accounts:
        # As much work as a real request: the answer's timing tells nothing.
        await hasher.hash_async("timing")
    for customer in accounts:
        await _send_reset_code(turn, customer, identifier, hasher)
    turn.move(
        ConversationState.RESET_CODE,
        {"channel": identifier.channel.value, "identifier": identifier.value, "wrong": 0},
    )
    turn.say("reset_neutral", _cancel(turn))


async def _send_reset_code(
    turn: Turn, customer: Customer, identifier: Contact, hasher: CodeHasher
) -> None:
    account = f"customer:{customer.id}"
    if await limits.wait_needed(turn.tx, _reset_request_limit(turn), account, turn.now):
        # Over the account's limit: answer as always, send nothing, note it for staff.
        await turn.audit("reset_request_limited", organization_id=customer.organization_id)
        return
    await limits.record(turn.tx, _reset_request_limit(turn), account, turn.now)
    by_email = identifier.channel is DeliveryChannel.EMAIL
    policy = turn.policy
    valid_for = (
        policy.reset_code_by_email_valid_for if by_email else policy.reset_code_by_sms_valid_for
    )
    code = numeric_code(6)
    subject = activation_codes.subject_of(customer)
    await turn.tx.codes.burn_all(subject, CodePurpose.PASSWORD_RESET)
    await turn.tx.codes.add(
        OneTimeCode(
            purpose=CodePurpose.PASSWORD_RESET,
            subject=subject,
            destination=identifier.value,
            code_hash=await hasher.hash_async(code),
            created_at=turn.now,
            expires_at=turn.now + valid_for,
            attempts=0,
            max_attempts=RESET_ATTEMPTS,
            burned=False,
        )
    )
    texts = Texts(turn.language)
    minutes = int(valid_for.total_seconds() // 60)
    org = customer.organization.name
    if by_email:
        await turn.tx.outbox.add(
            DeliveryChannel.EMAIL,
            identifier.value,
            texts("mail_reset_body", org=org, code=code, minutes=minutes),
            turn.now,
            subject=texts("mail_reset_subject"),
            sensitive=True,
        )
    else:
        await turn.tx.outbox.add(
            DeliveryChannel.SMS,
            identifier.value,
            texts("sms_reset", org=org, code=code, minutes=minutes),
            turn.now,
            sensitive=True,
        )
    await turn.audit(
        "reset_code_sent", organization_id=customer.organization_id, route=identifier.channel.value
    )


async def on_reset_code(turn: Turn) -> None:
    """The same answers whether or not an account exists: the count lives in the chat."""
    typed = "".join(turn.event.text.split())
    if not (typed.isdigit() and len(typed) == 6):
        turn.say("code_not_digits", _cancel(turn))
        return
    data = turn.data
    chat = f"chat:{turn.event.chat_id}"
    chat_limit = limits.Limit("wrong_attempt", turn.policy.wrong_attempts_per_hour)
    wait = await limits.wait_needed(turn.tx, chat_limit, chat, turn.now)
    if wait:
        turn.move(ConversationState.IDLE)
        turn.say("attempts_wait", minutes=limits.minutes(wait))
        return
    accounts = await turn.tx.customer_accounts.active_accounts_for(
        DeliveryChannel(data["channel"]), str(data["identifier"])
    )
    hasher = CodeHasher()
    codes = []
    for customer in accounts:
        code = await turn.tx.codes.current(
            activation_codes.subject_of(customer), CodePurpose.PASSWORD_RESET
        )
        if code is not None and turn.now < code.expires_at:
            codes.append((customer, code))
    for customer, code in codes:
        if await hasher.matches_async(code.code_hash, typed):
            code.used_at = turn.now
            await turn.audit("reset_code_accepted", organization_id=customer.organization_id)
            turn.say("reset_code_accepted")
            ask_for_password(turn, customer, reason="reset")
            return
    if not codes:
        await hasher.hash_async("timing")
    wrong = int(data.get("wrong", 0)) + 1
    await limits.record(turn.tx, chat_limit, chat, turn.now)
    for _customer, code in codes:
        code.attempts += 1
        if wrong >= RESET_ATTEMPTS or code.attempts >= code.max_attempts:
            code.burned = True  # the code, never the account
    if wrong >= RESET_ATTEMPTS:
        turn.move(ConversationState.IDLE)
        turn.say("reset_code_used_up")
        return
    turn.move(ConversationState.RESET_CODE, {**data, "wrong": wrong})
    turn.say("reset_code_wrong", _cancel(turn), left=RESET_ATTEMPTS - wrong)


async def repeat_step(turn: Turn) -> None:
    if turn.state is ConversationState.CHOOSE_PASSWORD:
        customer = await turn.tx.customer_accounts.get(int(turn.data["customer_id"]))
        if customer is not None:
            ask_for_password(turn, customer, str(turn.data.get("reason", "")))
            return
        turn.move(ConversationState.IDLE)
        turn.say("stale_button")
    elif turn.state is ConversationState.RESET_IDENTIFIER:
        turn.say("ask_reset_identifier", _cancel(turn))
    else:
        turn.say("reset_neutral", _cancel(turn))


STEPS = {
    ConversationState.CHOOSE_PASSWORD: on_password,
    ConversationState.RESET_IDENTIFIER: on_reset_identifier,
    ConversationState.RESET_CODE: on_reset_code,
}
