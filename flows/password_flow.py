"""Choosing a password, and resetting a forgotten one (seeds 003 and 004, done securely).

```mermaid
stateDiagram-v2
    [*] --> RESET_IDENTIFIER: Forgot password / password
    RESET_IDENTIFIER --> RESET_CODE: any address or number (one neutral answer)
    RESET_CODE --> CHOOSE_PASSWORD: right code (one account)
    RESET_CODE --> RESET_CHOOSE_ACCOUNT: right code, several accounts share the address
    RESET_CHOOSE_ACCOUNT --> CHOOSE_PASSWORD: a customer number of those accounts
    RESET_CODE --> IDLE: fifth wrong code (this chat's code is burned, never the account)
    RESET_CODE --> SECOND_FACTOR: right code, the account has two-step (flows.step_up_flow)
    SECOND_FACTOR --> CHOOSE_PASSWORD: its second factor or a recovery code
    CHOOSE_PASSWORD --> IDLE: password meets the organization's policy
```

The seeds tell a stranger "unknown user" and mail passwords in plain text; Balie answers the
same sentence whether or not an account exists, queues (never awaits) the code, deletes the
typed password from the chat at once, and keeps only an argon2 hash. Seed 002 holds here
too: a blocked account gets no reset, and for one under administration the code and the
"password changed" mail go to the administrator.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from flows import invitations, labels, limits, linking, member_flow, sms_budget, step_up
from flows.buttons import Menu, MenuChoice, encode
from flows.contacts import Contact, Refusal, parse_email, parse_mobile
from flows.directory import (
    AccountRef,
    PasswordChange,
    PasswordRejected,
    customer_account,
    person_account,
)
from flows.domain import AuditAction, CodePurpose, ConversationState, DeliveryChannel
from flows.events import Keyboard
from flows.members import MemberAction
from flows.model import Customer, Person
from flows.own_account import of_customer
from flows.password_rules import PasswordPolicy, Violation, check
from flows.texts import Texts
from flows.turn import Turn
from flows.verification import SHORT_CODE, CodeService, Failure, Target, fingerprint

log = logging.getLogger("balie.password")

RESET_ATTEMPTS = 5


@dataclass(frozen=True)
class PasswordChoice:
    """The account whose password is being chosen (a customer's portal account, or an
    employee's), and why: ``activation``, ``reset`` or ``invitation``."""

    customer_id: int | None
    reason: str
    person_id: int | None = None


Account = Customer | Person
"""Whose password a person may choose: a customer's portal account, or their own as an
employee (after an invitation or an approval)."""


@dataclass(frozen=True)
class PendingReset:
    """A reset code's step: the address typed, where the code went (``code_id`` None when
    none was issued: the answer is the same) and the wrong codes typed so far."""

    channel: DeliveryChannel
    identifier: str
    destination: str
    code_id: int | None
    wrong: int = 0


@dataclass(frozen=True)
class AccountChoice:
    """The accounts sharing the proved address, one of which the person picks."""

    customer_ids: tuple[int, ...] = ()


def _cancel(turn: Turn) -> Keyboard:
    return ((turn.button("button_cancel", encode(Menu(MenuChoice.CANCEL))),),)


def policy_sentence(texts: Texts, policy: PasswordPolicy) -> str:
    return texts(labels.PASSWORD_RULES[policy.name], min=policy.min_length)


def ask_for_password(turn: Turn, account: Account, reason: str) -> None:
    policy = PasswordPolicy.for_organization(account.organization)
    if isinstance(account, Customer):
        choice = PasswordChoice(account.id, reason)
    else:
        choice = PasswordChoice(None, reason, person_id=account.id)
    turn.move(ConversationState.CHOOSE_PASSWORD, choice)
    turn.say("ask_password", _cancel(turn), rules=policy_sentence(turn.texts, policy))


async def _chosen(turn: Turn, choice: PasswordChoice) -> Account | None:
    if choice.person_id is not None:
        return await turn.tx.people.get(choice.person_id)
    if choice.customer_id is not None:
        return await turn.tx.customers.get(choice.customer_id)
    return None


def _context_words(account: Account) -> tuple[str | None, ...]:
    """What a password must not be built from: the account's own names and numbers."""
    words = (account.email, account.name, account.organization.name)
    if isinstance(account, Customer):
        return (*words, account.customer_number)
    return words


def _directory_account(account: Account) -> AccountRef:
    if isinstance(account, Customer):
        return customer_account(account)
    return person_account(account)


async def on_password(turn: Turn) -> None:
    """The typed password is deleted from the chat whatever happens next. It is in memory
    only while the directory sets it: never in the store's rows, the outbox or a retry."""
    turn.outcome.delete_message = True
    choice = turn.data_as(PasswordChoice)
    account = await _chosen(turn, choice)
    if account is None:
        turn.move(ConversationState.IDLE)
        turn.say("stale_button")
        return
    organization = account.organization
    policy = PasswordPolicy.for_organization(organization)
    violations = check(policy, turn.event.text, _context_words(account))
    if violations:
        _refuse_password(turn, violations)
        return
    if not await _set_in_directory(turn, account, turn.event.text):
        return
    account.password_changed_at = turn.now
    await turn.audit(
        AuditAction.PASSWORD_CHANGED,
        organization_id=organization.id,
        customer_number=account.customer_number if isinstance(account, Customer) else None,
        subject_person_id=account.id if isinstance(account, Person) else None,
        reason=choice.reason,
    )
    await _mail_password_changed(turn, account)
    if choice.reason == invitations.INVITATION_REASON and isinstance(account, Person):
        await _confirm_invitation(turn, account)
    turn.move(ConversationState.IDLE)
    turn.say("password_set" if isinstance(account, Customer) else "password_set_employee")


async def _confirm_invitation(turn: Turn, person: Person) -> None:
    confirmed = await invitations.confirm(turn.tx, person, turn.now)
    if confirmed is not None:
        await turn.audit(
            AuditAction.INVITATION_CONFIRMED,
            organization_id=person.organization_id,
            subject_person_id=person.id,
            invitation_id=confirmed.id,
        )


async def _set_in_directory(turn: Turn, account: Account, password: str) -> bool:
    """Set the password where the person logs in. When the directory refuses it or cannot
    be reached, say so honestly and stay at this step: nothing changed, the next try may
    work. False then."""
    organization = account.organization
    kind = turn.directories.kind_for(organization)
    done = turn.done_outside(PasswordChange(kind, _directory_account(account), password))
    exc = done.error
    if isinstance(exc, PasswordRejected):
        await turn.audit(AuditAction.DIRECTORY_PASSWORD_REFUSED, organization_id=organization.id)
        turn.say("password_refused_by_directory", _cancel(turn), reason=exc.reason)
        return False
    if exc is not None:
        log.warning(
            "organization %s: the directory could not set a password: %s",
            organization.id,
            exc or "no answer in time",
        )
        await turn.audit(
            AuditAction.DIRECTORY_UNAVAILABLE,
            organization_id=organization.id,
            error=type(exc).__name__,
        )
        turn.say("password_not_set_now", _cancel(turn))
        return False
    if done.password_hash is not None:  # the built-in directory: the hash is the account's
        account.password_hash = done.password_hash
    return True


def _refuse_password(turn: Turn, violations: Sequence[Violation]) -> None:
    """Every rule the password breaks, each in a line of its own; the step stays."""
    lines = [turn.texts("password_refused")]
    lines += [f"- {violation.explain(turn.language)}" for violation in violations]
    lines.append(turn.texts("password_try_again"))
    turn.say_text("\n".join(lines), _cancel(turn))


async def _mail_password_changed(turn: Turn, account: Account) -> None:
    """Tell the account's address (an administrator's, under administration) that the
    password changed, so a change nobody asked for does not go unnoticed (seed 003's
    third e-mail: "password set")."""
    if isinstance(account, Customer):
        address = linking.correspondence_address(account)
    else:
        address = account.email
    if not address:
        return
    organization = account.organization
    texts = Texts(turn.language)
    await turn.tx.outbox.add(
        DeliveryChannel.EMAIL,
        address,
        texts(
            "mail_password_changed_body",
            name=account.name,
            org=organization.name,
            when=texts.when(turn.now),
            contact=organization.desk_contact or texts("desk_contact_default"),
        ),
        turn.now,
        subject=texts("mail_password_changed_subject"),
        organization_id=account.organization_id,
    )


# -- forgotten password ----------------------------------------------------------------------
#
# One neutral answer whether or not an account exists, and the same work on each path: the
# requests are counted per chat and per address typed (known or not), and every path runs
# one keyed hash. The code is bound to this chat's request and to the address it went to.


def _reset_request_limit(turn: Turn) -> limits.Limit:
    return limits.Limit("reset_request", turn.policy.code_requests_per_hour)


async def begin_reset(turn: Turn) -> None:
    if await member_flow.refused_here(turn, MemberAction.RESET_PASSWORD):
        return
    turn.move(ConversationState.RESET_IDENTIFIER)
    turn.say("ask_reset_identifier", _cancel(turn))


def _identifier(text: str, countries: frozenset[str]) -> Contact | Refusal:
    text = text.strip()
    if "@" not in text:
        return parse_mobile(text, countries=countries)
    parsed = parse_email(text)
    if isinstance(parsed, Refusal) and parsed.reason == "contact_role_address":
        return Contact(DeliveryChannel.EMAIL, text.lower())
    return parsed


def reset_subject(chat_id: int, destination: str) -> str:
    """Each chat's request has its own code: another chat's request never burns it."""
    return f"reset:{chat_id}:{fingerprint(destination)}"


def reset_target(chat_id: int, destination: str) -> Target:
    return Target(
        CodePurpose.PASSWORD_RESET, reset_subject(chat_id, destination), destination, None
    )


def may_reset(customer: Customer) -> bool:
    """Seed 002: a blocked account gets no reset, unless it is under administration (then the
    administrator acts for it)."""
    return customer.account_active and (customer.under_administration or not customer.blocked)


def reset_destination(customer: Customer, identifier: Contact) -> str | None:
    """Where the code goes: the administrator's address for an account under administration
    (seed 002: all correspondence goes there), else the address or number typed."""
    if customer.under_administration:
        return linking.correspondence_address(customer)
    return identifier.value


async def on_reset_identifier(turn: Turn) -> None:
    turn.outcome.steady_timing = True
    identifier = _identifier(turn.event.text, turn.policy.sms_countries)
    if isinstance(identifier, Refusal):
        key = identifier.reason
        turn.say(key if key == "contact_country_not_served" else "reset_identifier_invalid")
        return
    chat = f"chat:{turn.event.chat_id}"
    wait = await limits.wait_needed(turn.tx, _reset_request_limit(turn), chat, turn.now)
    if wait:
        await turn.audit(AuditAction.RESET_REQUEST_LIMITED, subject=chat)
        turn.move(ConversationState.IDLE)
        turn.say("activation_wait", minutes=limits.minutes(wait))
        return
    if identifier.channel is DeliveryChannel.SMS and not await sms_budget.deployment_has_room(
        turn.tx, turn.policy, turn.now
    ):
        turn.say("sms_unavailable", _cancel(turn))
        return
    await limits.record(turn.tx, _reset_request_limit(turn), chat, turn.now)
    code_id, destination = await _issue_reset_code(turn, identifier)
    turn.move(
        ConversationState.RESET_CODE,
        PendingReset(identifier.channel, identifier.value, destination, code_id),
    )
    turn.say("reset_neutral", _cancel(turn))


async def _issue_reset_code(turn: Turn, identifier: Contact) -> tuple[int | None, str]:
    """Issue the code where an account may reset; (code id or None, its destination)."""
    codes = CodeService.of(turn)
    about = f"address:{fingerprint(identifier.value)}"
    over_limit = await limits.wait_needed(turn.tx, _reset_request_limit(turn), about, turn.now)
    await limits.record(turn.tx, _reset_request_limit(turn), about, turn.now)
    accounts = await turn.tx.customers.accounts_for(identifier.channel, identifier.value)
    resettable = [customer for customer in accounts if may_reset(customer)]
    if len(resettable) < len(accounts):
        await turn.audit(
            AuditAction.RESET_REFUSED_BLOCKED, accounts=len(accounts) - len(resettable)
        )
    first = resettable[0] if resettable else None
    destination = reset_destination(first, identifier) if first else None
    if first is None or destination is None or over_limit:
        if over_limit and first is not None:
            await turn.audit(
                AuditAction.RESET_REQUEST_LIMITED, organization_id=first.organization_id
            )
        codes.no_issue(CodePurpose.PASSWORD_RESET)
        return None, identifier.value
    by_sms = identifier.channel is DeliveryChannel.SMS and not first.under_administration
    if by_sms and not await sms_budget.has_room(
        turn.tx, turn.policy, first.organization_id, turn.now
    ):
        await turn.audit(AuditAction.RESET_SMS_BUDGET, organization_id=first.organization_id)
        codes.no_issue(CodePurpose.PASSWORD_RESET)
        return None, identifier.value
    policy = turn.policy
    valid_for = (
        policy.reset_code_by_sms_valid_for if by_sms else policy.reset_code_by_email_valid_for
    )
    issued = await codes.issue(
        reset_target(turn.event.chat_id, destination), SHORT_CODE, valid_for, RESET_ATTEMPTS
    )
    if by_sms:
        await sms_budget.spend(turn.tx, policy, first.organization_id, turn.now)
    await _queue_reset_code(turn, first, destination, by_sms, issued.code, valid_for)
    return issued.id, destination


async def _queue_reset_code(
    turn: Turn, customer: Customer, destination: str, by_sms: bool, code: str, valid_for: timedelta
) -> None:
    texts = Texts(turn.language)
    minutes = int(valid_for.total_seconds() // 60)
    org = customer.organization.name
    if by_sms:
        body = texts("sms_reset", org=org, code=code, minutes=minutes)
        await turn.tx.outbox.add(
            DeliveryChannel.SMS,
            destination,
            body,
            turn.now,
            sensitive=True,
            expires_at=turn.now + valid_for,
            notify_chat=turn.event.chat_id,
            organization_id=customer.organization_id,
        )
    else:
        await turn.tx.outbox.add(
            DeliveryChannel.EMAIL,
            destination,
            texts("mail_reset_body", org=org, code=code, minutes=minutes),
            turn.now,
            subject=texts("mail_reset_subject"),
            sensitive=True,
            expires_at=turn.now + valid_for,
            notify_chat=turn.event.chat_id,
            organization_id=customer.organization_id,
        )
    await turn.audit(
        AuditAction.RESET_CODE_SENT,
        organization_id=customer.organization_id,
        route="sms" if by_sms else "email",
    )


async def on_reset_code(turn: Turn) -> None:
    """The same answers whether or not an account exists: the count lives in the chat."""
    turn.outcome.steady_timing = True
    turn.outcome.delete_message = True
    data = turn.data_as(PendingReset)
    code_id = data.code_id
    result = await CodeService.of(turn).verify_bound(
        reset_target(turn.event.chat_id, data.destination or data.identifier),
        code_id,
        turn.event.text,
        SHORT_CODE,
        turn.event.chat_id,
    )
    turn.outcome.wait_before_answer = result.slowdown.total_seconds()
    if result.failure is Failure.MALFORMED:
        turn.outcome.delete_message = False
        turn.say("code_not_digits", _cancel(turn))
        return
    if result.confirmed:
        await _reset_confirmed(turn, data)
        return
    wrong = data.wrong + 1
    if wrong >= RESET_ATTEMPTS:
        if code_id is not None:
            await CodeService.of(turn).burn(
                reset_subject(turn.event.chat_id, data.destination),
                CodePurpose.PASSWORD_RESET,
            )
        turn.move(ConversationState.IDLE)
        turn.say("reset_code_used_up")
        return
    turn.move(ConversationState.RESET_CODE, replace(data, wrong=wrong))
    turn.say("reset_code_wrong", _cancel(turn), left=RESET_ATTEMPTS - wrong)


async def _reset_confirmed(turn: Turn, data: PendingReset) -> None:
    """The chat proved the address: the accounts it may now set a password for."""
    identifier = Contact(data.channel, data.identifier)
    accounts = await turn.tx.customers.accounts_for(identifier.channel, identifier.value)
    choices = [
        customer
        for customer in accounts
        if may_reset(customer) and reset_destination(customer, identifier) == data.destination
    ]
    if not choices:
        turn.move(ConversationState.IDLE)
        turn.say("reset_code_used_up")
        return
    await turn.audit(AuditAction.RESET_CODE_ACCEPTED, organization_id=choices[0].organization_id)
    turn.say("reset_code_accepted")
    if len(choices) == 1:
        await _proved(turn, choices[0])
        return
    turn.move(ConversationState.RESET_CHOOSE_ACCOUNT, AccountChoice(tuple(c.id for c in choices)))
    _ask_which_account(turn, choices)


def _ask_which_account(turn: Turn, choices: list[Customer]) -> None:
    lines = [f"{customer.customer_number}: {customer.name}" for customer in choices]
    turn.say("reset_choose_account", _cancel(turn), accounts="\n".join(lines))


async def on_choose_account(turn: Turn) -> None:
    ids = turn.data_as(AccountChoice).customer_ids
    choices = [c for c in [await turn.tx.customers.get(i) for i in ids] if c]
    typed = turn.event.text.strip()
    chosen = next((c for c in choices if c.customer_number == typed), None)
    if chosen is None:
        _ask_which_account(turn, choices)
        return
    await _proved(turn, chosen)


async def _proved(turn: Turn, customer: Customer) -> None:
    """The address is proved for ``customer``: with two-step on, its second factor (or a
    recovery code) comes first (``step_up_flow`` then asks for the password); only now may
    the chat learn that the account has two-step."""
    data = {"customer_id": customer.id}
    if await step_up.require(
        turn, of_customer(customer), step_up.StepUpPurpose.PASSWORD_RESET, data
    ):
        ask_for_password(turn, customer, reason="reset")


async def repeat_step(turn: Turn) -> None:
    if turn.state is ConversationState.CHOOSE_PASSWORD:
        choice = turn.data_as(PasswordChoice)
        account = await _chosen(turn, choice)
        if account is not None:
            ask_for_password(turn, account, choice.reason)
            return
        turn.move(ConversationState.IDLE)
        turn.say("stale_button")
    elif turn.state is ConversationState.RESET_IDENTIFIER:
        turn.say("ask_reset_identifier", _cancel(turn))
    elif turn.state is ConversationState.RESET_CHOOSE_ACCOUNT:
        await on_choose_account(turn)
    else:
        turn.say("reset_neutral", _cancel(turn))


STEPS = {
    ConversationState.CHOOSE_PASSWORD: on_password,
    ConversationState.RESET_IDENTIFIER: on_reset_identifier,
    ConversationState.RESET_CODE: on_reset_code,
    ConversationState.RESET_CHOOSE_ACCOUNT: on_choose_account,
}
