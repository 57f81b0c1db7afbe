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
    TWO_STEP = "two_step"
    """An SMS code of two-step verification: enrolling the number, or a step-up."""


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
    DIRECTORY = "directory"
    """Not a message: an operation on an account in the organization's directory (enable,
    disable), queued in the outbox so an outage delays it but loses none."""


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    """Refused for good by the provider (no such mailbox, invalid number, bot blocked)."""
    DEAD = "dead"
    """A dead letter: it kept failing, or expired before it could be sent."""
    SKIPPED = "skipped"
    """Not sent: its reader switched this kind of notice off on this channel after it was
    queued (notification preferences); never a security notice."""


class AnnouncementAudience(StrEnum):
    """Who a notice from the organization goes to (issue 13, seed 004)."""

    CUSTOMERS = "customers"
    """Every customer with an activated portal account (and, through it, its members)."""
    EMPLOYEES = "employees"
    """Every active person of the organization: employees, desk staff, managers, admins."""
    OFFICE = "office"
    """The active people linked to one office."""


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
    # /announce (issue 13: urgent notices and the weekly digest)
    ANNOUNCE_AUDIENCE = "announce_audience"
    ANNOUNCE_URGENCY = "announce_urgency"
    ANNOUNCE_TEXT = "announce_text"
    ANNOUNCE_CONFIRM = "announce_confirm"
    # two-step verification (issue 13)
    TWO_STEP_PHONE = "two_step_phone"
    TWO_STEP_CONFIRM = "two_step_confirm"
    TWO_STEP_RECOVERY_CONFIRM = "two_step_recovery_confirm"
    SECOND_FACTOR = "second_factor"
    # members (issue 13): the holder adds a member
    MEMBER_NAME = "member_name"
    MEMBER_EMAIL = "member_email"
    MEMBER_READ_ONLY = "member_read_only"


class AuditAction(StrEnum):
    """What the audit log records; the value is the text kept in ``audit_log.action``, so a
    member is never renamed, only added."""

    # registration and chat links (seed 000)
    CODE_SENT = "code_sent"
    CODE_RATE_LIMITED = "code_rate_limited"
    CODE_SMS_BUDGET = "code_sms_budget"
    CODE_NOT_ACCEPTED = "code_not_accepted"
    REGISTRATION_REQUESTED = "registration_requested"
    REGISTRATION_REFUSED = "registration_refused"
    REGISTRATION_APPROVED = "registration_approved"
    REGISTRATION_REJECTED = "registration_rejected"
    CHAT_LINK_REQUESTED = "chat_link_requested"
    CHAT_LINK_APPROVED = "chat_link_approved"
    CHAT_LINK_REJECTED = "chat_link_rejected"
    CHAT_LINKED = "chat_linked"
    CHAT_LINK_UNDONE = "chat_link_undone"
    # activation codes (seed 002)
    CODE_REQUEST_LIMITED = "code_request_limited"
    ACTIVATION_NO_MATCH = "activation_no_match"
    ACTIVATION_INELIGIBLE = "activation_ineligible"
    ACTIVATION_REQUESTED = "activation_requested"
    ACTIVATION_RELEASED = "activation_released"
    ACTIVATION_REFUSED = "activation_refused"
    ACTIVATION_REDEEM_BLOCKED = "activation_redeem_blocked"
    ACTIVATION_CODE_WRONG = "activation_code_wrong"
    ACCOUNT_ACTIVATED = "account_activated"
    LETTER_EXPORTED = "letter_exported"
    # passwords (seeds 003 and 004)
    PASSWORD_CHANGED = "password_changed"
    RESET_REQUEST_LIMITED = "reset_request_limited"
    RESET_REFUSED_BLOCKED = "reset_refused_blocked"
    RESET_SMS_BUDGET = "reset_sms_budget"
    RESET_CODE_SENT = "reset_code_sent"
    RESET_CODE_ACCEPTED = "reset_code_accepted"
    # the organization's directory (where people log in)
    DIRECTORY_PASSWORD_REFUSED = "directory_password_refused"
    DIRECTORY_UNAVAILABLE = "directory_unavailable"
    DIRECTORY_ACCOUNT_ENABLED = "directory_account_enabled"
    DIRECTORY_ACCOUNT_DISABLED = "directory_account_disabled"
    PASSWORD_VERIFIED = "password_verified"
    PASSWORD_VERIFY_FAILED = "password_verify_failed"
    PASSWORD_VERIFY_LIMITED = "password_verify_limited"
    API_KEY_CREATED = "api_key_created"
    API_KEY_REVOKED = "api_key_revoked"
    API_KEY_REFUSED = "api_key_refused"
    # invitations by deep link (seed 003)
    INVITATION_SENT = "invitation_sent"
    INVITATION_RESENT = "invitation_resent"
    INVITATION_WITHDRAWN = "invitation_withdrawn"
    INVITATION_OPENED = "invitation_opened"
    INVITATION_CONFIRMED = "invitation_confirmed"
    INVITATION_REFUSED = "invitation_refused"
    """A ``/start`` with a token that opens nothing (unknown, used, withdrawn, expired), or
    one opened in a chat that belongs to another account."""
    # members (issue 13)
    MEMBER_ADDED = "member_added"
    MEMBER_JOINED = "member_joined"
    MEMBER_REMOVED = "member_removed"
    MEMBER_READ_ONLY_CHANGED = "member_read_only_changed"
    MEMBER_REFUSED = "member_refused"
    """A member (or a stranger) refused something only the holder, or a full member, may
    do; or an address that cannot be used for a member."""
    MEMBER_INVITATION_REFUSED = "member_invitation_refused"
    """A ``/start member_…`` that opens nothing, or one opened in another account's chat."""
    # staff and accounts
    STAFF_ACTION_REFUSED = "staff_action_refused"
    TAMPERED_BUTTON = "tampered_button"
    OFFBOARD_REQUESTED = "offboard_requested"
    OFFBOARD_REFUSED = "offboard_refused"
    EMPLOYEE_OFFBOARDED = "employee_offboarded"
    ORGANIZATION_ADDED = "organization_added"
    ORGANIZATION_CONFIGURED = "organization_configured"
    STAFF_ADDED = "staff_added"
    EMPLOYEE_ADDED = "employee_added"
    CUSTOMERS_IMPORTED = "customers_imported"
    # announcements (issue 13)
    ANNOUNCEMENT_QUEUED = "announcement_queued"
    """An urgent notice fanned out to its audience, or a general one kept for the digest."""
    ANNOUNCEMENT_REPORTED = "announcement_reported"
    """Every message of an urgent notice was sent or failed for good: the count is in."""
    DIGEST_RUN = "digest_run"
    """An organization's weekly digest went to every recipient of that week's notices."""
    # linked devices (issue 13)
    DEVICE_PAIRING_ISSUED = "device_pairing_issued"
    DEVICE_PAIRING_REFUSED = "device_pairing_refused"
    """A ``/start pair_...`` that linked nothing: an unusable token, a limited chat, or a
    chat that belongs to an account already."""
    DEVICE_LINKED = "device_linked"
    DEVICE_UNLINKED = "device_unlinked"
    DEVICES_LISTED_BY_STAFF = "devices_listed_by_staff"
    # notification preferences (issue 13, point 3)
    NOTICE_PREFERENCE_CHANGED = "notice_preference_changed"
    # two-step (issue 13)
    TWO_STEP_ENABLED = "two_step_enabled"
    TWO_STEP_DISABLED = "two_step_disabled"
    TWO_STEP_CODES_RENEWED = "two_step_codes_renewed"
    TWO_STEP_RECOVERY_USED = "two_step_recovery_used"
    TWO_STEP_PASSED = "two_step_passed"
    TWO_STEP_WRONG = "two_step_wrong"
    TWO_STEP_LIMITED = "two_step_limited"
    TWO_STEP_REQUIRED = "two_step_required"
    """A staff command refused: the organization requires two-step, the staff member has none."""
    # the deployment
    SMS_BUDGET_SPENT = "sms_budget_spent"
    RUNTIME_STARTED = "runtime_started"
    """A Telegram runtime started: the store then has real Telegram users."""


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
