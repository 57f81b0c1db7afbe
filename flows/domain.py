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


class CodePurpose(StrEnum):
    REGISTRATION = "registration"


class DeliveryChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    TELEGRAM = "telegram"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class ConversationState(StrEnum):
    IDLE = "idle"
    REGISTER_PARTNER_ID = "register_partner_id"
    REGISTER_CONTACT = "register_contact"
    REGISTER_CODE = "register_code"
    REGISTER_NAME = "register_name"


DECIDING_ROLES = frozenset({Role.MANAGER, Role.ADMIN})
"""Who may approve or reject an employee's registration (seed 000: the manager)."""


def effective_status(
    status: AccountStatus, out_of_service_on: date | None, today: date
) -> AccountStatus:
    """Seed 000: from the out-of-service date on, the person can no longer act as an employee."""
    if out_of_service_on is not None and today >= out_of_service_on:
        return AccountStatus.OUT_OF_SERVICE
    return status


def may_decide_registrations(role: Role, status: AccountStatus) -> bool:
    return role in DECIDING_ROLES and status is AccountStatus.ACTIVE
