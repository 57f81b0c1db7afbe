"""Administration of organizations and people (the CLI and the demo use these)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from flows import account_sync, approval
from flows.approval import parse_lookup_contact
from flows.contacts import Contact, Refusal, parse_email, parse_mobile
from flows.digest import DigestSchedule
from flows.directory import DirectoryKind
from flows.domain import (
    AccountStatus,
    AuditAction,
    DeliveryChannel,
    Language,
    PasswordPolicyName,
    Role,
)
from flows.keys import KeyedHasher
from flows.model import Organization, Person, RegistrationRequest
from flows.ports import DeepLinks
from flows.store import Transaction
from flows.texts import Texts
from flows.turn import DeskPolicy


class AccountError(Exception):
    """A refused value; the message is one line for the operator."""


async def add_organization(
    tx: Transaction, name: str, partner_id: str, now: datetime
) -> Organization:
    name, partner_id = name.strip(), partner_id.strip()
    if not name or not partner_id or len(partner_id) > 64:
        raise AccountError("an organization needs a name and a partner ID of at most 64 characters")
    if await tx.organizations.by_partner_id(partner_id) is not None:
        raise AccountError(f"partner ID {partner_id} is already in use")
    organization = await tx.organizations.add(name, partner_id, now)
    await tx.audit.add(
        AuditAction.ORGANIZATION_ADDED,
        actor="cli",
        channel="cli",
        now=now,
        organization_id=organization.id,
        partner_id=partner_id,
    )
    return organization


async def organization(tx: Transaction, partner_id: str) -> Organization:
    found = await tx.organizations.by_partner_id(partner_id.strip())
    if found is None:
        raise AccountError(f"unknown organization: no partner ID {partner_id}")
    return found


def _refusal_line(refusal: Refusal) -> str:
    return Texts(Language.EN).template(refusal.reason)


def personal_email(text: str) -> str:
    parsed = parse_email(text)
    if isinstance(parsed, Refusal):
        raise AccountError(f"{text}: {_refusal_line(parsed)}")
    return parsed.value


def mobile_number(text: str) -> str:
    parsed = parse_mobile(text)
    if isinstance(parsed, Refusal):
        raise AccountError(f"{text}: {_refusal_line(parsed)}")
    return parsed.value


async def _check_unique(
    tx: Transaction, organization_id: int, email: str | None, phone: str | None
) -> None:
    # Seed 001: "Deze gebruiker bestaat al binnen het systeem".
    if email and await tx.people.by_contact(organization_id, DeliveryChannel.EMAIL, email):
        raise AccountError(f"a person with e-mail {email} already exists in this organization")
    if phone and await tx.people.by_contact(organization_id, DeliveryChannel.SMS, phone):
        raise AccountError(f"a person with phone {phone} already exists in this organization")


def _check_staff(role: Role, name: str) -> None:
    if role not in {Role.MANAGER, Role.STAFF, Role.ADMIN}:
        raise AccountError("staff role must be manager or staff")
    if not name.strip():
        raise AccountError("a name is required")


async def _check_chat_free(tx: Transaction, telegram_id: int) -> None:
    """A staff member's chat is theirs alone: one chat acts for one account."""
    if telegram_id <= 0:
        raise AccountError("--telegram-id must be a positive Telegram user id")
    if await tx.chat_links.person_for(telegram_id) is not None:
        raise AccountError(f"Telegram user {telegram_id} is already linked to another account")


async def add_staff(
    tx: Transaction,
    *,
    partner_id: str,
    name: str,
    role: Role,
    email: str,
    phone: str | None,
    telegram_id: int,
    now: datetime,
    language: Language | None = None,
) -> Person:
    """A manager or desk staff member, active at once, with their private chat linked."""
    _check_staff(role, name)
    org = await organization(tx, partner_id)
    email_value = personal_email(email)
    phone_value = mobile_number(phone) if phone else None
    await _check_unique(tx, org.id, email_value, phone_value)
    await _check_chat_free(tx, telegram_id)
    person = await tx.people.add(
        organization_id=org.id,
        name=name.strip(),
        role=role,
        status=AccountStatus.ACTIVE,
        now=now,
        email=email_value,
        phone=phone_value,
        language=language.value if language else None,
    )
    await tx.chat_links.link(telegram_id, person.id, now)
    await tx.audit.add(
        AuditAction.STAFF_ADDED,
        actor="cli",
        channel="cli",
        now=now,
        organization_id=org.id,
        subject_person_id=person.id,
        role=role.value,
    )
    return person


async def add_employee(
    tx: Transaction,
    *,
    partner_id: str,
    name: str,
    email: str | None,
    phone: str | None,
    offices: Sequence[str],
    now: datetime,
) -> Person:
    """Seed 000: a manager adds an employee first, with a personal address or mobile number."""
    if not email and not phone:
        raise AccountError("give at least one of --email and --phone")
    if not name.strip():
        raise AccountError("a name is required")
    org = await organization(tx, partner_id)
    email_value = personal_email(email) if email else None
    phone_value = mobile_number(phone) if phone else None
    await _check_unique(tx, org.id, email_value, phone_value)
    office_rows = [await tx.organizations.office(org.id, o.strip()) for o in offices if o.strip()]
    person = await tx.people.add(
        organization_id=org.id,
        name=name.strip(),
        role=Role.EMPLOYEE,
        status=AccountStatus.PENDING,
        now=now,
        email=email_value,
        phone=phone_value,
        pre_registered=True,
        offices=office_rows,
    )
    await tx.audit.add(
        AuditAction.EMPLOYEE_ADDED,
        actor="cli",
        channel="cli",
        now=now,
        organization_id=org.id,
        subject_person_id=person.id,
    )
    return person


async def offboard_employee(
    tx: Transaction, *, partner_id: str, contact_text: str, day: date, now: datetime
) -> Person:
    org = await organization(tx, partner_id)
    contact: Contact | None = parse_lookup_contact(contact_text)
    person = await tx.people.by_contact(org.id, contact.channel, contact.value) if contact else None
    if person is None:
        raise AccountError(f"no person with {contact_text} in {org.name}")
    await account_sync.offboarded(tx, person, day, now, "cli")
    await tx.audit.add(
        AuditAction.EMPLOYEE_OFFBOARDED,
        actor="cli",
        channel="cli",
        now=now,
        organization_id=org.id,
        subject_person_id=person.id,
        date=day.isoformat(),
    )
    return person


async def configure_organization(
    tx: Transaction,
    partner_id: str,
    now: datetime,
    *,
    desk_contact: str | None = None,
    password_policy: PasswordPolicyName | None = None,
    password_min_length: int | None = None,
    activation_code_days: int | None = None,
    manual_activation: bool | None = None,
    directory: DirectoryKind | None = None,
    digest_schedule: str | None = None,
    require_two_step: str | None = None,
) -> Organization:
    """Change an organization's desk settings; only the given ones change.
    ``require_two_step``: ``staff`` (staff and managers must use two-step) or ``none``."""
    org = await organization(tx, partner_id)
    if digest_schedule is not None:
        try:
            digest_schedule = str(DigestSchedule.parse(digest_schedule))
        except ValueError as wrong:
            raise AccountError(f"--digest: {wrong}") from None
    if password_min_length is not None and not 8 <= password_min_length <= 15:
        raise AccountError("--password-min-length must be between 8 and 15 (NIST SP 800-63B)")
    if activation_code_days is not None and not 1 <= activation_code_days <= 90:
        raise AccountError("--activation-days must be between 1 and 90")
    if require_two_step is not None and require_two_step not in {"staff", "none"}:
        raise AccountError("--require-2fa must be staff or none")
    changes = {
        "desk_contact": desk_contact.strip() if desk_contact is not None else None,
        "password_policy": password_policy,
        "password_min_length": password_min_length,
        "activation_code_days": activation_code_days,
        "manual_activation": manual_activation,
        "directory": directory.value if directory is not None else None,
        "digest_schedule": digest_schedule,
        "require_two_step": require_two_step,
    }
    changed = {name: value for name, value in changes.items() if value is not None}
    for name, value in changed.items():
        setattr(org, name, value)
    await tx.audit.add(
        AuditAction.ORGANIZATION_CONFIGURED,
        actor="cli",
        channel="cli",
        now=now,
        organization_id=org.id,
        changes={name: str(value) for name, value in changed.items()},
    )
    return org


async def decide_request(
    tx: Transaction,
    hasher: KeyedHasher,
    policy: DeskPolicy,
    *,
    partner_id: str,
    number: int,
    approve: bool,
    reason: str | None,
    now: datetime,
    links: DeepLinks | None = None,
) -> RegistrationRequest:
    """An admin's verdict from the CLI on request #``number``: a registration, or a staff
    account's new chat (where the organization has no second manager to agree)."""
    org = await organization(tx, partner_id)
    request = await tx.requests.by_number(org.id, number)
    if request is None:
        raise AccountError(f"no registration or link request #{number} in {org.name}")
    if not approve and not (reason and reason.strip()):
        raise AccountError("a rejection needs --reason")
    reason = reason.strip()[:500] if reason else None
    if not await approval.settle(tx, hasher, policy, request, None, approve, reason, now, links):
        raise AccountError(f"request #{number} was already decided ({request.status.value})")
    await tx.audit.add(
        approval.DECISION_ACTIONS[request.kind, approve],
        actor="cli",
        channel="cli",
        now=now,
        organization_id=org.id,
        subject_person_id=request.person_id,
        number=number,
        reason=reason,
    )
    return request
