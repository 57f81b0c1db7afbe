"""Staff release activation codes that need a person's decision (seed 002).

Letters, administrator requests and, where the organization wants it, every code wait for a
desk employee or manager: a card with Release and Refuse goes to each of them, `/codes`
lists the queue, `/release N` and `/refuse N reason` decide. Exactly one decision wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flows import activation_codes, cards, labels, notices, own_account, paging
from flows.buttons import ButtonSigner, Listing, Release, signer
from flows.decisions import Power, acting, decide, number_and_reason, refuse, stale
from flows.domain import (
    ActivationRoute,
    ActivationStatus,
    AuditAction,
    DeliveryChannel,
    Ineligibility,
    LetterStatus,
)
from flows.events import Button, Keyboard
from flows.keys import KeyedHasher
from flows.model import ActivationRequest, Customer, Letter, Person
from flows.notices import NoticeKind
from flows.own_account import OwnAccount
from flows.store import Transaction
from flows.texts import Texts
from flows.turn import DeskPolicy, Turn


def _topic(request: ActivationRequest) -> str:
    return f"activation:{request.id}"


def _address(customer: Customer) -> str:
    street = " ".join(p for p in (customer.street, customer.house_number) if p)
    city = " ".join(p for p in (customer.postcode, customer.city) if p)
    return ", ".join(p for p in (street, city) if p) or "-"


def route_label(texts: Texts, request: ActivationRequest) -> str:
    customer = request.customer
    if request.route is ActivationRoute.LETTER:
        return texts("route_letter")
    if request.route is ActivationRoute.ADMINISTRATOR:
        administrator = customer.administrator_name if customer else None
        return texts(
            "route_administrator",
            administrator=administrator or "-",
            destination=request.destination or "-",
        )
    return texts("route_email_to", destination=request.destination or "-")


def card(texts: Texts, request: ActivationRequest) -> str:
    customer = request.customer
    assert customer is not None
    return texts(
        "staff_code_card",
        number=request.number,
        org=request.organization.name,
        name=customer.name,
        customer=customer.customer_number,
        address=_address(customer),
        route=route_label(texts, request),
        when=texts.when(request.created_at),
    )


def keyboard(texts: Texts, request: ActivationRequest, sign: ButtonSigner) -> Keyboard:
    return (
        (
            Button(texts("button_release"), sign(Release(request.id, release=True))),
            Button(texts("button_refuse"), sign(Release(request.id, release=False))),
        ),
    )


def outcome_line(texts: Texts, request: ActivationRequest) -> str:
    by = request.decided_by.name if request.decided_by else "?"
    when = texts.when(request.decided_at) if request.decided_at else ""
    if request.status is ActivationStatus.RELEASED:
        return texts("staff_outcome_released", by=by, when=when)
    reason = texts("reason_suffix", reason=request.reason) if request.reason else ""
    return texts("staff_outcome_refused", by=by, when=when, reason=reason)


async def announce(
    tx: Transaction,
    request: ActivationRequest,
    hasher: KeyedHasher,
    policy: DeskPolicy,
    now: datetime,
) -> None:
    request = await tx.activation_requests.get(request.id) or request
    await cards.push(
        tx,
        await tx.people.desk_with_chats(request.organization_id),
        _topic(request),
        lambda texts: card(texts, request),
        lambda texts, sign: keyboard(texts, request, sign),
        hasher,
        policy,
        now,
    )


async def send_code_by_email(
    tx: Transaction,
    hasher: KeyedHasher,
    request: ActivationRequest,
    now: datetime,
    *,
    replace_earlier: bool = True,
) -> None:
    """Issue the code and queue the mail, in one transaction (see ``activation_codes.issue``
    for when an older code goes)."""
    request = await tx.activation_requests.get(request.id) or request
    customer = request.customer
    assert customer is not None and request.destination is not None
    organization = request.organization
    issued = await activation_codes.issue(
        tx,
        hasher,
        customer,
        request.destination,
        now,
        organization.activation_code_days,
        replace_earlier=replace_earlier,
    )
    texts = await _requester_texts(tx, request, customer)
    until = texts.day((now + timedelta(days=organization.activation_code_days)).date())
    body = _activation_mail(texts, request, customer, issued.code, until)
    await tx.outbox.add(
        DeliveryChannel.EMAIL,
        request.destination,
        body,
        now,
        subject=texts("mail_activation_subject"),
        sensitive=True,
        expires_at=issued.expires_at,
        organization_id=request.organization_id,
        notify_chat=request.telegram_user_id,
    )


def _activation_mail(
    texts: Texts, request: ActivationRequest, customer: Customer, code: str, until: str
) -> str:
    """The mail's body: to the tenant, or to the administrator acting for them."""
    organization = request.organization
    if request.route is ActivationRoute.ADMINISTRATOR:
        return texts(
            "mail_activation_administrator_body",
            administrator=customer.administrator_name or "",
            org=organization.name,
            name=customer.name,
            number=customer.customer_number,
            code=activation_codes.formatted(code),
            until=until,
        )
    return texts(
        "mail_activation_body",
        name=customer.name,
        org=organization.name,
        code=activation_codes.formatted(code),
        until=until,
    )


async def _requester_texts(
    tx: Transaction, request: ActivationRequest, customer: Customer
) -> Texts:
    """The language of the chat that asked (a tenant or their administrator)."""
    language = customer.language
    if request.telegram_user_id is not None:
        conversation = await tx.conversations.peek(request.telegram_user_id)
        if conversation is not None and conversation.language:
            language = conversation.language
    return Texts.for_code(language)


async def _linked_account(
    tx: Transaction, request: ActivationRequest, customer: Customer
) -> OwnAccount | None:
    """The account of the chat that asked, when that chat is linked to this customer's
    portal account already (a new code after the first login): then the news is a notice
    to that account, on the channels it chose. Otherwise (no account yet) None: the chat
    that asked is answered as before."""
    if not request.telegram_user_id:
        return None
    account = await own_account.account_of_chat(tx, request.telegram_user_id)
    if account is None or account.customer is None or account.customer.id != customer.id:
        return None
    return account


@dataclass
class _Request:
    """An activation-code request waiting for release, as :func:`decisions.decide` decides it."""

    request: ActivationRequest
    hasher: KeyedHasher
    power = Power.RELEASE
    attempted = "decide_code"

    @property
    def organization_id(self) -> int:
        return self.request.organization_id

    @property
    def topic(self) -> str:
        return _topic(self.request)

    def refusal_detail(self) -> dict[str, Any]:
        return {}

    async def vetoed(self, turn: Turn, decider: Person) -> bool:
        return False

    async def record(
        self,
        tx: Transaction,
        decider: Person | None,
        verdict: bool,
        now: datetime,
        reason: str | None,
    ) -> bool:
        assert decider is not None  # only staff in chat release codes
        status = ActivationStatus.RELEASED if verdict else ActivationStatus.REFUSED
        return await tx.activation_requests.decide(self.request.id, status, decider.id, now, reason)

    async def reload(self, tx: Transaction) -> None:
        self.request = await tx.activation_requests.get(self.request.id) or self.request

    async def carry_out(self, tx: Transaction, now: datetime) -> None:
        """Released: the code goes out (or the letter is queued); refused: the asker hears."""
        request, customer = self.request, self.request.customer
        assert customer is not None
        if request.status is ActivationStatus.RELEASED:
            await _carry_out(tx, self.hasher, request, customer, now)
        else:
            await _tell_refused(tx, request, customer, now)

    async def card_holders(self, tx: Transaction) -> cards.Recipients:
        return await tx.people.desk_with_chats(self.organization_id)

    def card(self, texts: Texts) -> str:
        return card(texts, self.request)

    def outcome(self, texts: Texts) -> str:
        return outcome_line(texts, self.request)

    def already(self, texts: Texts) -> str:
        request = self.request
        decided = request.status in {ActivationStatus.RELEASED, ActivationStatus.REFUSED}
        outcome = self.outcome(texts) if decided else request.status.value
        return texts("staff_already_decided", number=request.number, outcome=outcome)

    def decided(self, texts: Texts) -> str:
        request = self.request
        assert request.customer is not None
        return texts(
            "staff_decided",
            number=request.number,
            name=request.customer.name,
            outcome=self.outcome(texts),
        )

    def audit_entry(
        self, decider: Person, reason: str | None
    ) -> tuple[AuditAction, dict[str, Any]]:
        request = self.request
        released = request.status is ActivationStatus.RELEASED
        action = AuditAction.ACTIVATION_RELEASED if released else AuditAction.ACTIVATION_REFUSED
        return action, {
            "organization_id": request.organization_id,
            "actor_person_id": decider.id,
            "number": request.number,
            "route": request.route.value if request.route else None,
            "reason": reason,
        }


async def decide_by_button(turn: Turn, action: Release) -> None:
    request = await turn.tx.activation_requests.get(action.request_id)
    if request is None:
        stale(turn)
        return
    await decide(turn, _Request(request, turn.hasher), action.release, reason=None)


async def decide_by_command(turn: Turn, release: bool) -> None:
    person = await acting(turn, Power.RELEASE)
    if person is None:
        await refuse(turn, Power.RELEASE, "release" if release else "refuse")
        return
    typed = number_and_reason(turn.event.text, reason_needed=not release)
    if typed is None:
        turn.say("release_usage" if release else "refuse_usage")
        return
    number, reason = typed
    request = await turn.tx.activation_requests.by_number(person.organization_id, number)
    if request is None or request.customer is None:
        turn.say("staff_code_unknown", number=number, org=person.organization.name)
        return
    await decide(turn, _Request(request, turn.hasher), release, reason)


async def _carry_out(
    tx: Transaction,
    hasher: KeyedHasher,
    request: ActivationRequest,
    customer: Customer,
    now: datetime,
) -> None:
    if request.route is ActivationRoute.LETTER:
        await tx.letters.queue(
            Letter(
                organization_id=request.organization_id,
                customer_id=customer.id,
                activation_request_id=request.id,
                status=LetterStatus.QUEUED,
                created_at=now,
            )
        )
        account = await _linked_account(tx, request, customer)
        if account is not None:
            await notices.notify(
                tx,
                account,
                NoticeKind.CODES,
                lambda texts: texts("letter_sent_chat"),
                now,
                subject=lambda texts: texts("mail_letter_sent_subject"),
            )
        elif request.telegram_user_id:
            texts = await _requester_texts(tx, request, customer)
            await tx.outbox.add(
                DeliveryChannel.TELEGRAM,
                str(request.telegram_user_id),
                texts("letter_sent_chat"),
                now,
                organization_id=request.organization_id,
            )
    else:
        await send_code_by_email(tx, hasher, request, now)


async def _tell_refused(
    tx: Transaction, request: ActivationRequest, customer: Customer, now: datetime
) -> None:
    if not request.telegram_user_id:
        return
    account = await _linked_account(tx, request, customer)
    if account is not None:
        desk_contact = request.organization.desk_contact
        await notices.notify(
            tx,
            account,
            NoticeKind.DECISIONS,
            lambda texts: texts(
                "code_refused_chat", contact=desk_contact or texts("desk_contact_default")
            ),
            now,
            subject=lambda texts: texts("mail_code_refused_subject", org=request.organization.name),
        )
        return
    texts = await _requester_texts(tx, request, customer)
    contact = request.organization.desk_contact or texts("desk_contact_default")
    await tx.outbox.add(
        DeliveryChannel.TELEGRAM,
        str(request.telegram_user_id),
        texts("code_refused_chat", contact=contact),
        now,
        organization_id=request.organization_id,
    )


async def list_codes(turn: Turn) -> None:
    """``/codes``: the first page of codes waiting for release with their cards, and the
    first page of requests answered without a code in the last 7 days."""
    await show_codes_page(turn, Listing.CODES, 1, refusals=True)


async def show_codes_page(
    turn: Turn, listing: Listing, number: int, *, refusals: bool = False
) -> None:
    """Page ``number`` of the waiting codes (``Listing.CODES``, with their cards) or of the
    refusals (``Listing.REFUSALS``); ``refusals`` adds the refusals' first page."""
    person = await acting(turn, Power.RELEASE)
    if person is None:
        await refuse(turn, Power.RELEASE, "codes")
        return
    shown: Sequence[ActivationRequest] = ()
    if listing is Listing.CODES:
        shown = await _waiting_page(turn, person, number)
    if listing is Listing.REFUSALS or refusals:
        await _refusals_page(turn, person, number if listing is Listing.REFUSALS else 1)
    texts = turn.texts
    sign = signer(turn.hasher, turn.event.chat_id)
    for request in shown:  # the cards come last, after the lists
        turn.say_text(card(texts, request), keyboard(texts, request, sign))


async def _waiting_page(turn: Turn, person: Person, number: int) -> Sequence[ActivationRequest]:
    """Say the page; return the requests on it (whose cards are shown after the lists)."""
    texts = turn.texts
    organization = person.organization
    requests = turn.tx.activation_requests
    total = await requests.count_with_status(organization.id, ActivationStatus.AWAITING_RELEASE)
    if not total:
        turn.say("codes_none")
        return ()
    where = paging.window(total, number)
    shown = where.of(
        await requests.with_status(
            organization.id,
            ActivationStatus.AWAITING_RELEASE,
            offset=where.offset,
            limit=where.limit,
        )
    )
    lines = []
    for request in shown.items:
        assert request.customer is not None
        lines.append(
            texts(
                "codes_line",
                number=request.number,
                name=request.customer.name,
                customer=request.customer.customer_number,
                route=route_label(texts, request),
                age=texts.age(turn.now - request.created_at),
            )
        )
    header = texts("codes_header", org=organization.name)
    turn.say_text(
        paging.text(texts, header, lines, shown), paging.keyboard(texts, Listing.CODES, shown)
    )
    return shown.items


async def _refusals_page(turn: Turn, person: Person, number: int) -> None:
    texts = turn.texts
    requests, since = turn.tx.activation_requests, turn.now - timedelta(days=7)
    organization_id, ineligible = person.organization.id, ActivationStatus.INELIGIBLE
    total = await requests.count_with_status(organization_id, ineligible, since=since)
    if not total:
        return
    where = paging.window(total, number)
    shown = where.of(
        await requests.with_status(
            organization_id, ineligible, since=since, offset=where.offset, limit=where.limit
        )
    )
    lines = [
        texts(
            "codes_refusal_line",
            number=request.number,
            name=request.customer.name if request.customer else "-",
            customer=request.customer.customer_number if request.customer else "-",
            reason=texts(labels.INELIGIBILITY[Ineligibility(request.reason or "")]),
            when=texts.when(request.created_at),
        )
        for request in shown.items
    ]
    turn.say_text(
        paging.text(texts, texts("codes_refusals_header"), lines, shown),
        paging.keyboard(texts, Listing.REFUSALS, shown),
    )
