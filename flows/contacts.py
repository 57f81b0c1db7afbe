"""Parse and check the e-mail address or mobile number a person types (seed 000)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from flows.domain import DeliveryChannel

ROLE_MAILBOXES = frozenset(
    {
        "info",
        "admin",
        "administratie",
        "support",
        "helpdesk",
        "servicedesk",
        "service",
        "contact",
        "office",
        "kantoor",
        "sales",
        "verkoop",
        "hr",
        "personeelszaken",
        "finance",
        "financien",
        "boekhouding",
        "receptie",
        "reception",
        "secretariaat",
        "post",
        "mail",
        "noreply",
        "no-reply",
        "postmaster",
        "webmaster",
        "hostmaster",
        "abuse",
        "team",
        "klantenservice",
        "algemeen",
        "balie",
        "facturen",
        "billing",
        "jobs",
        "vacatures",
    }
)
"""Local parts of shared mailboxes: seed 000 wants a personal address, not e.g. info@."""

MOBILE_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


@dataclass(frozen=True)
class Contact:
    channel: DeliveryChannel
    value: str
    """Normalized: a lower-cased e-mail address or an E.164 number."""


@dataclass(frozen=True)
class Refusal:
    reason: str
    """Message id (in the catalogs, ``flows/locales``) explaining what is wrong."""


def parse_contact(
    text: str, default_region: str = "NL", countries: Collection[str] | None = None
) -> Contact | Refusal:
    """An e-mail address, or a mobile number (of ``countries`` only, when given)."""
    text = text.strip()
    if "@" in text:
        return parse_email(text)
    return parse_mobile(text, default_region, countries)


def parse_email(text: str) -> Contact | Refusal:
    try:
        # Syntax only: no DNS look-up, so a slow or absent resolver never blocks a chat.
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return Refusal("contact_bad_email")
    local = result.local_part.lower()
    if local in ROLE_MAILBOXES or local.split("+")[0] in ROLE_MAILBOXES:
        return Refusal("contact_role_address")
    return Contact(DeliveryChannel.EMAIL, result.normalized.lower())


def parse_mobile(
    text: str, default_region: str = "NL", countries: Collection[str] | None = None
) -> Contact | Refusal:
    """A mobile number in E.164; with ``countries``, one of those countries only (codes go
    by SMS only where the desk works: see ``flows.sms_budget``)."""
    if not any(ch.isdigit() for ch in text):
        return Refusal("contact_unrecognized")
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return Refusal("contact_bad_phone")
    if not phonenumbers.is_valid_number(number):
        return Refusal("contact_bad_phone")
    if phonenumbers.number_type(number) not in MOBILE_TYPES:
        return Refusal("contact_not_mobile")
    if countries is not None and phonenumbers.region_code_for_number(number) not in countries:
        return Refusal("contact_country_not_served")
    return Contact(
        DeliveryChannel.SMS, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    )
