"""The desk's vocabulary and the rules that need no store."""

from __future__ import annotations

from datetime import date
from enum import StrEnum


class Language(StrEnum):
    NL = "nl"
    EN = "en"


class Role(StrEnum):
    EMPLOYEE = "employee"
    MANAGER = "manager"
    STAFF = "staff"
    ADMIN = "admin"


class AccountStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    BLOCKED = "blocked"
    OUT_OF_SERVICE = "out_of_service"


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class RequestKind(StrEnum):
    REGISTRATION = "registration"
    """A new employee's account (seed 000)."""
    CHAT_LINK = "chat_link"
    """A manager's, staff member's or admin's account asked for from a new chat: a second
    manager (or an admin in the CLI) must agree before that chat gets the account's powers."""


class OffboardStatus(StrEnum):
    """A manager's request to take another manager out of service, awaiting a second one."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    REFUSED = "refused"


class CodePurpose(StrEnum):
    REGISTRATION = "registration"
    ACTIVATION = "activation"
    PASSWORD_RESET = "password_reset"


class ActivationRoute(StrEnum):
    """How an activation code reaches the customer (seed 002)."""

    EMAIL = "email"
    LETTER = "letter"
    ADMINISTRATOR = "administrator"


class ActivationStatus(StrEnum):
    AWAITING_RELEASE = "awaiting_release"
    RELEASED = "released"
    REFUSED = "refused"
    INELIGIBLE = "ineligible"


class Ineligibility(StrEnum):
    """Seed 002's reasons why an activation request gets no code (stored as the request's
    reason while it is ineligible)."""

    NOT_TENANT = "not_tenant"
    INSTITUTION = "institution"
    PAYMENT_ARRANGEMENT = "payment_arrangement"
    UNDER_ADMINISTRATION = "under_administration"
    BLOCKED = "blocked"


class LetterStatus(StrEnum):
    QUEUED = "queued"
    EXPORTED = "exported"


class PasswordPolicyName(StrEnum):
    NIST = "nist"
    """NIST SP 800-63B: length and a blocklist, no composition rules (the default)."""
    UPPER_DIGIT = "upper_digit"
    """Seed 003: at least 1 upper-case letter and 1 digit."""
    UPPER_LOWER_DIGIT_SPECIAL = "upper_lower_digit_special"
    """Seed 004: lower, upper, digit and a special character from !?@#$%^&[]()."""


class DeliveryChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    TELEGRAM = "telegram"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    """Refused for good by the provider (no such mailbox, invalid number, bot blocked)."""
    DEAD = "dead"
    """A dead letter: it kept failing, or expired before it could be sent."""


class ConversationState(StrEnum):
    IDLE = "idle"
    REGISTER_PARTNER_ID = "register_partner_id"
    REGISTER_CONTACT = "register_contact"
    REGISTER_CODE = "register_code"
    REGISTER_NAME = "register_name"
    ACTIVATION_CUSTOMER_NUMBER = "activation_customer_number"
    ACTIVATION_POSTCODE = "activation_postcode"
    ACTIVATION_HOUSE_NUMBER = "activation_house_number"
    ACTIVATION_EMAIL = "activation_email"
    REDEEM_CUSTOMER_NUMBER = "redeem_customer_number"
    REDEEM_CODE = "redeem_code"
    CHOOSE_PASSWORD = "choose_password"
    RESET_IDENTIFIER = "reset_identifier"
    RESET_CODE = "reset_code"
    RESET_CHOOSE_ACCOUNT = "reset_choose_account"


DECIDING_ROLES = frozenset({Role.MANAGER, Role.ADMIN})
"""Who may approve or reject an employee's registration (seed 000: the manager)."""

RELEASING_ROLES = frozenset({Role.STAFF, Role.MANAGER, Role.ADMIN})
"""Who may release or refuse an activation code (seed 002: the desk)."""


TWO_PERSON_OFFBOARDING_ROLES = frozenset({Role.MANAGER, Role.ADMIN})
"""Whom a manager may take out of service in chat only with a second manager's consent."""


def effective_status(
    status: AccountStatus, out_of_service_on: date | None, today: date
) -> AccountStatus:
    """Seed 000: from the out-of-service date on, the person can no longer act as an employee."""
    if out_of_service_on is not None and today >= out_of_service_on:
        return AccountStatus.OUT_OF_SERVICE
    return status
