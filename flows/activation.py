"""Activation codes for the customer portal (seed 002): ask for one, and redeem it.

```mermaid
stateDiagram-v2
    [*] --> ACTIVATION_CUSTOMER_NUMBER: Activation code / Request a code
    ACTIVATION_CUSTOMER_NUMBER --> ACTIVATION_POSTCODE
    ACTIVATION_POSTCODE --> ACTIVATION_HOUSE_NUMBER
    ACTIVATION_HOUSE_NUMBER --> ACTIVATION_EMAIL
    ACTIVATION_EMAIL --> IDLE: e-mail sent, letter or release queued, or standard reply
    [*] --> REDEEM_CUSTOMER_NUMBER: /activate / I have a code
    REDEEM_CUSTOMER_NUMBER --> REDEEM_CODE
    REDEEM_CODE --> CHOOSE_PASSWORD: right code (account activated, chat linked)
    REDEEM_CODE --> IDLE: wrong code
```

Who gets no code (seed 002): not a tenant, co-resident of an institution, a payment
arrangement, under administration unless the administrator asks, blocked. They, and details
that match no customer, get one standard reply that reveals nothing; staff see the reason.
"""

from __future__ import annotations

import re
from datetime import timedelta

from flows import activation_codes, limits, password, release
from flows.buttons import Menu, MenuChoice, encode
from flows.codes import CodeHasher
from flows.contacts import Contact, Refusal, parse_email
from flows.domain import ActivationRoute, ActivationStatus, CodePurpose, ConversationState
from flows.events import Keyboard
from flows.turn import Turn
from storage.models import ActivationRequest, Customer, Organization

MAX_FIELD = 64
DUTCH_POSTCODE = re.compile(r"^(\d{4})\s*([A-Za-z]{2})$")


def request_limit(turn: Turn) -> limits.Limit:
    return limits.Limit("code_request", turn.policy.code_requests_per_hour)


def chat_attempts_limit(turn: Turn) -> limits.Limit:
    return limits.Limit("wrong_attempt", turn.policy.wrong_attempts_per_hour)


def account_attempts_limit(turn: Turn) -> limits.Limit:
    return limits.Limit("wrong_code", turn.policy.wrong_attempts_per_account)


def chat_subject(turn: Turn) -> str:
    return f"chat:{turn.event.chat_id}"


def normalized_postcode(text: str) -> str:
    match = DUTCH_POSTCODE.match(text.strip())
    if match:
        return f"{match.group(1)} {match.group(2).upper()}"
    return " ".join(text.split()).upper()


def normalized_house_number(text: str) -> str:
    return "".join(text.split()).lower()


def _cancel(turn: Turn) -> Keyboard:
    return ((turn.button("button_cancel", encode(Menu(MenuChoice.CANCEL))),),)


def menu(turn: Turn) -> None:
    """The Activation code button: ask for a new code, or redeem one."""
    turn.say(
        "activation_menu",
        (
            (turn.button("button_request_code", encode(Menu(MenuChoice.REQUEST_CODE))),),
            (turn.button("button_have_code", encode(Menu(MenuChoice.HAVE_CODE))),),
            (turn.button("button_cancel", encode(Menu(MenuChoice.CANCEL))),),
        ),
    )


# -- asking for a code ---------------------------------------------------------------------


async def begin_request(turn: Turn) -> None:
    turn.move(ConversationState.ACTIVATION_CUSTOMER_NUMBER)
    turn.say("ask_customer_number", _cancel(turn))


def _field(turn: Turn) -> str | None:
    value = " ".join(turn.event.text.split())
    if not value or len(value) > MAX_FIELD:
        turn.say("field_too_long", _cancel(turn))
        return None
    return value


async def on_customer_number(turn: Turn) -> None:
    value = _field(turn)
    if value is not None:
        turn.move(ConversationState.ACTIVATION_POSTCODE, {"customer_number": value})
        turn.say("ask_postcode", _cancel(turn))


async def on_postcode(turn: Turn) -> None:
    value = _field(turn)
    if value is not None:
        turn.move(
            ConversationState.ACTIVATION_HOUSE_NUMBER,
            {**turn.data, "postcode": normalized_postcode(value)},
        )
        turn.say("ask_house_number", _cancel(turn))


async def on_house_number(turn: Turn) -> None:
    value = _field(turn)
    if value is not None:
        turn.move(
            ConversationState.ACTIVATION_EMAIL,
            {**turn.data, "house_number": normalized_house_number(value)},
        )
        turn.say("ask_activation_email", _email_keyboard(turn))


def _email_keyboard(turn: Turn) -> Keyboard:
    return (
        (turn.button("button_skip", encode(Menu(MenuChoice.SKIP))),),
        (turn.button("button_cancel", encode(Menu(MenuChoice.CANCEL))),),
    )


async def on_email(turn: Turn) -> None:
    parsed = parse_email(turn.event.text)
    if isinstance(parsed, Refusal) and parsed.reason != "contact_role_address":
        turn.say("contact_bad_email", _email_keyboard(turn))
        return
    # A family's own info@ address is still theirs: only the syntax matters here.
    email = parsed.value if isinstance(parsed, Contact) else turn.event.text.strip().lower()
    await _decide_route(turn, email)


async def skip_email(turn: Turn) -> None:
    await _decide_route(turn, None)


async def _decide_route(turn: Turn, given_email: str | None) -> None:
    data = turn.data
    turn.move(ConversationState.IDLE)
    chat = chat_subject(turn)
    wait = await limits.wait_needed(turn.tx, request_limit(turn), chat, turn.now)
    if wait:
        await turn.audit("code_request_limited", subject=chat)
        turn.say("activation_wait", minutes=limits.minutes(wait))
        return
    await limits.record(turn.tx, request_limit(turn), chat, turn.now)

    matches = await turn.tx.customer_accounts.matching_address(
        data["customer_number"], data["postcode"], data["house_number"]
    )
    if len(matches) != 1:
        await CodeHasher().hash_async("timing")  # the same work as a real request: no timing tell
        await turn.audit("activation_no_match", matches=len(matches))
        await _standard_reply(turn)
        return
    customer = matches[0]
    organization = customer.organization
    account = f"customer:{customer.id}"
    if await limits.wait_needed(turn.tx, request_limit(turn), account, turn.now):
        # Someone keeps asking for this account: answer as usual, send nothing.
        await turn.audit("code_request_limited", organization_id=organization.id, subject=account)
        await _standard_reply(turn)
        return
    await limits.record(turn.tx, request_limit(turn), account, turn.now)

    reason = ineligibility(customer, given_email)
    number = await turn.tx.organizations.next_request_number(organization.id)
    request = ActivationRequest(
        organization_id=organization.id,
        number=number,
        customer_id=customer.id,
        telegram_user_id=turn.event.sender.user_id,
        given_email=given_email,
        status=ActivationStatus.INELIGIBLE if reason else ActivationStatus.AWAITING_RELEASE,
        reason=reason,
        created_at=turn.now,
    )
    if reason:
        await CodeHasher().hash_async("timing")  # as much work as the no-match answer
        await turn.tx.activation_requests.add(request)
        await turn.audit(
            "activation_ineligible", organization_id=organization.id, number=number, reason=reason
        )
        await _standard_reply(turn)
        return

    request.route, request.destination = route_for(customer, given_email)
    request.replaces_code = (
        await turn.tx.codes.current(activation_codes.subject_of(customer), CodePurpose.ACTIVATION)
        is not None
    )
    # A new code replaces the old one at once (seed 002: the old account goes).
    await turn.tx.codes.burn_all(activation_codes.subject_of(customer), CodePurpose.ACTIVATION)
    await turn.tx.activation_requests.add(request)
    await turn.audit(
        "activation_requested",
        organization_id=organization.id,
        number=number,
        route=request.route.value,
    )
    needs_release = request.route is not ActivationRoute.EMAIL or organization.manual_activation
    if needs_release:
        await release.announce(turn.tx, request, turn.policy, turn.now)
    else:
        request.status = ActivationStatus.RELEASED
        request.decided_at = turn.now
        await release.send_code_by_email(turn.tx, request, turn.now)
    _tell_route(turn, request, needs_release)


def ineligibility(customer: Customer, given_email: str | None) -> str | None:
    """Seed 002's reasons for no code, as a key of the staff's texts; None when eligible."""
    if not customer.is_tenant:
        return "not_tenant"
    if customer.institution_coresident:
        return "institution"
    if customer.payment_arrangement:
        return "payment_arrangement"
    if customer.under_administration:
        asked_by_administrator = (
            given_email is not None
            and customer.administrator_email is not None
            and given_email == customer.administrator_email.lower()
        )
        # The account is blocked when the administration is formalized; the
        # administrator may still ask, and then all mail goes to them.
        return None if asked_by_administrator else "under_administration"
    if customer.blocked:
        return "blocked"
    return None


def route_for(customer: Customer, given_email: str | None) -> tuple[ActivationRoute, str | None]:
    """Seed 002: e-mail when the address on file matches (or none was given), else a letter."""
    on_file = customer.email.lower() if customer.email else None
    if customer.under_administration and customer.administrator_email:
        return ActivationRoute.ADMINISTRATOR, customer.administrator_email.lower()
    if on_file and (given_email is None or given_email == on_file):
        return ActivationRoute.EMAIL, on_file
    return ActivationRoute.LETTER, None


def desk_contact(turn: Turn, organization: Organization | None) -> str:
    if organization is not None and organization.desk_contact:
        return organization.desk_contact
    return turn.texts("desk_contact_default")


async def _standard_reply(turn: Turn) -> None:
    """The same words whether the details matched nobody or someone who gets no code: the
    contact is the deployment's own desk (its only organization's), never the matched one's."""
    sole = await turn.tx.organizations.sole()
    turn.say("activation_not_possible", contact=desk_contact(turn, sole))


def _tell_route(turn: Turn, request: ActivationRequest, needs_release: bool) -> None:
    destination = mask_email(request.destination or "")
    if request.route is ActivationRoute.LETTER:
        turn.say("activation_by_letter")
    elif request.route is ActivationRoute.ADMINISTRATOR:
        turn.say("activation_to_administrator")
    elif needs_release:
        turn.say("activation_manual_email", destination=destination)
    else:
        days = request.organization.activation_code_days if request.organization else 14
        turn.say("activation_sent_email", destination=destination, days=days)


def mask_email(address: str) -> str:
    """``e•••@example.com``: enough to recognise, not enough to harvest."""
    local, _, domain = address.partition("@")
    if not domain:
        return address
    return f"{local[:1]}•••@{domain}"


# -- redeeming a code ----------------------------------------------------------------------


async def begin_redeem(turn: Turn) -> None:
    turn.move(ConversationState.REDEEM_CUSTOMER_NUMBER)
    turn.say("ask_redeem_customer_number", _cancel(turn))


async def on_redeem_customer_number(turn: Turn) -> None:
    value = _field(turn)
    if value is not None:
        turn.move(ConversationState.REDEEM_CODE, {"customer_number": value})
        turn.say("ask_activation_code", _cancel(turn))


async def on_redeem_code(turn: Turn) -> None:
    typed = activation_codes.normalized(turn.event.text)
    customer_number = str(turn.data.get("customer_number", ""))
    chat = chat_subject(turn)
    wait = await limits.wait_needed(turn.tx, chat_attempts_limit(turn), chat, turn.now)
    if wait:
        turn.move(ConversationState.IDLE)
        turn.say("attempts_wait", minutes=limits.minutes(wait))
        return
    hasher = CodeHasher()
    candidates = await turn.tx.customer_accounts.with_number(customer_number)
    for customer in candidates:
        code = await turn.tx.codes.current(
            activation_codes.subject_of(customer), CodePurpose.ACTIVATION
        )
        if code is None or turn.now >= code.expires_at:
            continue
        if len(typed) == activation_codes.LENGTH and await hasher.matches_async(
            code.code_hash, typed
        ):
            code.used_at = turn.now
            await _activate(turn, customer)
            return
        await _wrong_code_for_account(turn, customer, code)
        if code.burned:
            turn.move(ConversationState.IDLE)
            await limits.record(turn.tx, chat_attempts_limit(turn), chat, turn.now)
            turn.say("activation_code_burned")
            return
    if not candidates:
        await hasher.hash_async("timing")
    await limits.record(turn.tx, chat_attempts_limit(turn), chat, turn.now)
    await turn.audit("activation_code_wrong", subject=chat)
    turn.move(ConversationState.IDLE)
    turn.say("activation_code_wrong")


async def _wrong_code_for_account(turn: Turn, customer: Customer, code: object) -> None:
    """Count a wrong code against the account; at the limit its code is burned."""
    from storage.models import OneTimeCode

    assert isinstance(code, OneTimeCode)
    account = f"customer:{customer.id}"
    limit = account_attempts_limit(turn)
    await limits.record(turn.tx, limit, account, turn.now)
    code.attempts += 1
    if (
        await limits.count(turn.tx, limit, account, turn.now) >= limit.max_events
        or code.attempts >= code.max_attempts
    ):
        code.burned = True
        await turn.audit(
            "activation_code_burned",
            organization_id=customer.organization_id,
            customer_number=customer.customer_number,
        )


async def _activate(turn: Turn, customer: Customer) -> None:
    customer.account_active = True
    customer.language = turn.language.value
    await turn.tx.customer_accounts.link_chat(customer, turn.event.sender.user_id)
    await turn.audit(
        "account_activated",
        organization_id=customer.organization_id,
        customer_number=customer.customer_number,
    )
    turn.say("account_activated")
    password.ask_for_password(turn, customer, reason="activation")


def expires_in_words(turn: Turn, valid_for: timedelta) -> int:
    return int(valid_for.total_seconds() // 60)


STEPS = {
    ConversationState.ACTIVATION_CUSTOMER_NUMBER: on_customer_number,
    ConversationState.ACTIVATION_POSTCODE: on_postcode,
    ConversationState.ACTIVATION_HOUSE_NUMBER: on_house_number,
    ConversationState.ACTIVATION_EMAIL: on_email,
    ConversationState.REDEEM_CUSTOMER_NUMBER: on_redeem_customer_number,
    ConversationState.REDEEM_CODE: on_redeem_code,
}

PROMPTS = {
    ConversationState.ACTIVATION_CUSTOMER_NUMBER: "ask_customer_number",
    ConversationState.ACTIVATION_POSTCODE: "ask_postcode",
    ConversationState.ACTIVATION_HOUSE_NUMBER: "ask_house_number",
    ConversationState.ACTIVATION_EMAIL: "ask_activation_email",
    ConversationState.REDEEM_CUSTOMER_NUMBER: "ask_redeem_customer_number",
    ConversationState.REDEEM_CODE: "ask_activation_code",
}


async def repeat_step(turn: Turn) -> None:
    if turn.state is ConversationState.ACTIVATION_EMAIL:
        turn.say(PROMPTS[turn.state], _email_keyboard(turn))
    else:
        turn.say(PROMPTS[turn.state], _cancel(turn))
