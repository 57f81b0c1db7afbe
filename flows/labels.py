"""Message ids for the enum values people read: one literal id per member.

Written out rather than built (``f"role_{role.value}"``) so that a scan of the code sees every
id the catalogs must hold, and a new member without a text fails a test instead of a chat.
"""

from __future__ import annotations

from flows.domain import AccountStatus, Ineligibility, OutboxStatus, PasswordPolicyName, Role

ROLE: dict[Role, str] = {
    Role.EMPLOYEE: "role_employee",
    Role.MANAGER: "role_manager",
    Role.STAFF: "role_staff",
    Role.ADMIN: "role_admin",
}

ACCOUNT_STATUS: dict[AccountStatus, str] = {
    AccountStatus.PENDING: "status_pending",
    AccountStatus.ACTIVE: "status_active",
    AccountStatus.BLOCKED: "status_blocked",
    AccountStatus.OUT_OF_SERVICE: "status_out_of_service",
}

INELIGIBILITY: dict[Ineligibility, str] = {
    Ineligibility.NOT_TENANT: "ineligible_not_tenant",
    Ineligibility.INSTITUTION: "ineligible_institution",
    Ineligibility.PAYMENT_ARRANGEMENT: "ineligible_payment_arrangement",
    Ineligibility.UNDER_ADMINISTRATION: "ineligible_under_administration",
    Ineligibility.BLOCKED: "ineligible_blocked",
}

PASSWORD_RULES: dict[PasswordPolicyName, str] = {
    PasswordPolicyName.NIST: "password_rules_nist",
    PasswordPolicyName.UPPER_DIGIT: "password_rules_upper_digit",
    PasswordPolicyName.UPPER_LOWER_DIGIT_SPECIAL: "password_rules_upper_lower_digit_special",
}

GIVEN_UP_STATE: dict[OutboxStatus, str] = {
    OutboxStatus.FAILED: "outbox_state_failed",
    OutboxStatus.DEAD: "outbox_state_dead",
}
"""Only the states the outbox view lists a letter in (``outbox_view.GIVEN_UP``)."""
