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
from dataclasses import dataclass, replace
from datetime import timedelta

from flows import activation_codes, devices, limits, linking, member_flow, password_flow, release
from flows.buttons import Menu, MenuChoice, encode
from flows.contacts import Contact, Refusal, parse_email
from flows.domain import (
    ActivationRoute,
    ActivationStatus,
    AuditAction,
    CodePurpose,
    ConversationState,
    Ineligibility,
)
from flows.events import Keyboard
from flows.flow_data import StaleFlowData
from flows.masking import mask_email
from flows.members import MemberAction
from flows.model import ActivationRequest, Customer, Organization
from flows.turn import Turn
from flows.verification import ACTIVATION_CODE, CodeService, Failure, fingerprint

MAX_FIELD = 64
DUTCH_POSTCODE = re.compile(r"^(\d{4})\s*([A-Za-z]{2})$")


@dataclass(frozen=True)
class Identification:
    """What the person typed so far to find their account, one answer per step."""

    customer_number: str
    postcode: str | None = None
    house_number: str | None = None

    def address(self) -> tuple[str, str]:
        """The postcode and house number, both typed by the e-mail step."""
        if self.postcode is None or self.house_number is None:
            raise StaleFlowData("the e-mail step's identification has no address")
        return self.postcode, self.house_number


@dataclass(frozen=True)
class Redemption:
    """The customer number typed before the activation code."""

    customer_number: str


def request_limit(turn: Turn) -> limits.Limit:
    return limits.Limit("code_request", turn.policy.code_requests_per_hour)


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
    if await member_flow.refused_here(turn, MemberAction.REQUEST_CODE):
        return
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
        turn.move(ConversationState.ACTIVATION_POSTCODE, Identification(value))
        turn.say("ask_postcode", _cancel(turn))


async def on_postcode(turn: Turn) -> None:
    value = _field(turn)
    if value is not None:
        turn.move(
            ConversationState.ACTIVATION_HOUSE_NUMBER,
            replace(turn.data_as(Identification), postcode=normalized_postcode(value)),
        )
        turn.say("ask_house_number", _cancel(turn))


async def on_house_number(turn: Turn) -> None:
    value = _field(turn)
    if value is not None:
        turn.move(
            ConversationState.ACTIVATION_EMAIL,
            replace(turn.data_as(Identification), house_number=normalized_house_number(value)),
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
    """Seed 002's decision. Requests are counted per chat and per customer number typed
    (known or not), and every path does one keyed hash: nothing tells known from unknown."""
    turn.outcome.steady_timing = True
    data = turn.data_as(Identification)
    postcode, house_number = data.address()
    turn.move(ConversationState.IDLE)
    chat = chat_subject(turn)
    wait = await limits.wait_needed(turn.tx, request_limit(turn), chat, turn.now)
    if wait:
        await turn.audit(AuditAction.CODE_REQUEST_LIMITED, subject=chat)
        turn.say("activation_wait", minutes=limits.minutes(wait))
        return
    await limits.record(turn.tx, request_limit(turn), chat, turn.now)
    number = data.customer_number
    about = f"number:{fingerprint(number)}"
    over_limit = await limits.wait_needed(turn.tx, request_limit(turn), about, turn.now)
    await limits.record(turn.tx, request_limit(turn), about, turn.now)
    matches = await turn.tx.customers.matching_address(number, postcode, house_number)
    customer = matches[0] if len(matches) == 1 else None
    if customer is None or over_limit:
        CodeService.of(turn).no_issue(CodePurpose.ACTIVATION)
        if customer is not None:
            # Someone keeps asking for this account: answer as usual, send nothing.
            await turn.audit(
                AuditAction.CODE_REQUEST_LIMITED, organization_id=customer.organization_id
            )
        else:
            await turn.audit(AuditAction.ACTIVATION_NO_MATCH, matches=len(matches))
        await _standard_reply(turn)
        return
    await _request_for(turn, customer, given_email)


async def _request_for(turn: Turn, customer: Customer, given_email: str | None) -> None:
    organization = customer.organization
    reason = ineligibility(customer, given_email)
    number = await turn.tx.organizations.next_request_number(organization.id)
    request = _new_request(turn, customer, number, given_email, reason)
    if reason:
        CodeService.of(turn).no_issue(CodePurpose.ACTIVATION)
        await turn.tx.activation_requests.add(request)
        await turn.audit(
            AuditAction.ACTIVATION_INELIGIBLE,
            organization_id=organization.id,
            number=number,
            reason=reason.value,
        )
        await _standard_reply(turn)
        return
    request.route, request.destination = route_for(customer, given_email)
    request.replaces_code = (
        await turn.tx.codes.current(activation_codes.subject_of(customer), CodePurpose.ACTIVATION)
        is not None
    )
    await turn.tx.activation_requests.add(request)
    await turn.audit(
        AuditAction.ACTIVATION_REQUESTED,
        organization_id=organization.id,
        number=number,
        route=request.route.value,
    )
    needs_release = request.route is not ActivationRoute.EMAIL or organization.manual_activation
    await _announce_or_send(turn, request, needs_release)
    _tell_route(turn, request, needs_release)


def _new_request(
    turn: Turn,
    customer: Customer,
    number: int,
    given_email: str | None,
    reason: Ineligibility | None,
) -> ActivationRequest:
    """The request as asked from this chat: ineligible (with seed 002's reason) or awaiting
    release."""
    return ActivationRequest(
        organization_id=customer.organization.id,
        number=number,
        customer_id=customer.id,
        telegram_user_id=turn.event.sender.user_id,
        given_email=given_email,
        status=ActivationStatus.INELIGIBLE if reason else ActivationStatus.AWAITING_RELEASE,
        reason=reason.value if reason else None,
        created_at=turn.now,
    )


async def _announce_or_send(turn: Turn, request: ActivationRequest, needs_release: bool) -> None:
    """Put the request before the desk, or (to the address on file, no manual release) mail
    the code at once."""
    if needs_release:
        CodeService.of(turn).no_issue(CodePurpose.ACTIVATION)
        await release.announce(turn.tx, request, turn.hasher, turn.policy, turn.now)
        return
    # Asked from an unproven chat: the new code does not void a code sent earlier (a
    # stranger knowing the address must not burn it); redeeming either voids the rest.
    request.status = ActivationStatus.RELEASED
    request.decided_at = turn.now
    await release.send_code_by_email(turn.tx, turn.hasher, request, turn.now, replace_earlier=False)


def ineligibility(customer: Customer, given_email: str | None) -> Ineligibility | None:
    """Seed 002's reason for no code; None when eligible."""
    if not customer.is_tenant:
        return Ineligibility.NOT_TENANT
    if customer.institution_coresident:
        return Ineligibility.INSTITUTION
    if customer.payment_arrangement:
        return Ineligibility.PAYMENT_ARRANGEMENT
    if customer.under_administration:
        asked_by_administrator = (
            given_email is not None
            and customer.administrator_email is not None
            and given_email == customer.administrator_email.lower()
        )
        # The account is blocked when the administration is formalized; the
        # administrator may still ask, and then all mail goes to them.
        return None if asked_by_administrator else Ineligibility.UNDER_ADMINISTRATION
    if customer.blocked:
        return Ineligibility.BLOCKED
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


# -- redeeming a code ----------------------------------------------------------------------


async def begin_redeem(turn: Turn) -> None:
    if await member_flow.refused_here(turn, MemberAction.REQUEST_CODE):
        return
    turn.move(ConversationState.REDEEM_CUSTOMER_NUMBER)
    turn.say("ask_redeem_customer_number", _cancel(turn))


async def on_redeem_customer_number(turn: Turn) -> None:
    value = _field(turn)
    if value is not None:
        turn.move(ConversationState.REDEEM_CODE, Redemption(value))
        turn.say("ask_activation_code", _cancel(turn))


async def on_redeem_code(turn: Turn) -> None:
    """One answer for a wrong code, an unknown number, a used or expired code, a blocked
    account and a locked-out chat; one keyed hash on every path. Nobody's code is burned by
    wrong tries: they lock out the chat that made them."""
    turn.outcome.steady_timing = True
    turn.outcome.delete_message = True
    customer_number = turn.data_as(Redemption).customer_number.strip()
    candidates = await turn.tx.customers.with_number(customer_number)
    redeemable = {activation_codes.subject_of(c): c for c in candidates if may_redeem(c)}
    result = await CodeService.of(turn).verify_found(
        CodePurpose.ACTIVATION,
        turn.event.text,
        ACTIVATION_CODE,
        turn.event.chat_id,
        customer_number,
        redeemable,
    )
    turn.outcome.wait_before_answer = result.slowdown.total_seconds()
    if result.code is not None:
        customer = redeemable[result.code.subject]
        # The account's other codes (an older letter, a second mail) stop working now.
        await CodeService.of(turn).burn(result.code.subject, CodePurpose.ACTIVATION)
        await _activate(turn, customer)
        return
    if result.failure is Failure.MALFORMED:
        turn.outcome.delete_message = False
        turn.say("activation_code_malformed", _cancel(turn))
        return
    if len(redeemable) < len(candidates):
        await turn.audit(
            AuditAction.ACTIVATION_REDEEM_BLOCKED, customer_number=customer_number[:64]
        )
    await turn.audit(
        AuditAction.ACTIVATION_CODE_WRONG,
        subject=chat_subject(turn),
        reason=result.failure.value if result.failure else None,
    )
    turn.move(ConversationState.IDLE)
    turn.say("activation_code_wrong")


def may_redeem(customer: Customer) -> bool:
    """Seed 002: a blocked account is not activated in chat (under administration it is:
    the administrator asked for the code, and all mail about it goes to them)."""
    return customer.under_administration or not customer.blocked


async def _activate(turn: Turn, customer: Customer) -> None:
    customer.account_active = True
    customer.language = turn.language.value
    await linking.link_customer(
        turn.tx,
        turn.hasher,
        turn.policy,
        customer,
        turn.event.sender.user_id,
        turn.now,
        device_name=devices.device_name(turn.event.sender),
    )
    await turn.audit(
        AuditAction.ACCOUNT_ACTIVATED,
        organization_id=customer.organization_id,
        customer_number=customer.customer_number,
    )
    turn.say("account_activated")
    password_flow.ask_for_password(turn, customer, reason="activation")


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
