"""What an LDAP server's failures mean for the desk: the port's errors, in one line each.

An operator reads :class:`DirectoryMisconfigured` and :class:`DirectoryUnavailable` in the log or
at start-up; a person reads :class:`PasswordRejected`'s reason in chat, so a password-policy
refusal becomes a short plain sentence (from the ppolicy response control when the server
sends one, else the server's own diagnostic message, cleaned up). No message holds a password:
they are built from result codes, the server's diagnostics and socket errors only.
"""

from __future__ import annotations

import re
import ssl
from typing import Any

from ldap3.core.exceptions import (
    LDAPCertificateError,
    LDAPCommunicationError,
    LDAPResponseTimeoutError,
    LDAPStartTLSError,
)

from flows.directory import (
    DirectoryError,
    DirectoryMisconfigured,
    DirectoryUnavailable,
    PasswordRejected,
)

PPOLICY_OID = "1.3.6.1.4.1.42.2.27.8.5.1"
"""The password policy control (draft-behera-ldap-password-policy), sent with the Password
Modify operation so that OpenLDAP's ppolicy says which rule a refused password broke."""

PPOLICY_REASONS = {
    1: "The account is locked in the directory.",
    3: "The directory does not allow this password to be changed.",
    5: "The password is not strong enough for the directory's password policy.",
    6: "The password is too short for the directory's password policy.",
    7: "The password was changed too recently; try again later.",
    8: "The password was used before; choose one you have not used recently.",
}
"""The ppolicy ``PasswordPolicyResponseValue`` error codes a person can act on."""

AD_POLICY_REASON = (
    "The password does not meet the directory's password policy (length, complexity or history)."
)
"""Active Directory's refusal (``0000052D``) does not say which rule; this sentence does not
pretend to know."""

DEFAULT_REASON = "The directory's password policy refused this password."

# Result codes (RFC 4511 section 4.1.9).
SUCCESS = 0
CONSTRAINT_VIOLATION = 19
NO_SUCH_OBJECT = 32
INVALID_CREDENTIALS = 49
INSUFFICIENT_ACCESS = 50
UNWILLING_TO_PERFORM = 53
TRANSIENT = {1, 3, 11, 51, 52, 80}
"""operationsError, timeLimitExceeded, adminLimitExceeded, busy, unavailable, other: the
server failing for now, not the configuration."""

_MAX_REASON = 160


def from_exception(exc: Exception, where: str) -> DirectoryError:
    """An exception from ldap3 or the socket under it as the port's error."""
    text = one_line(str(exc))
    if _is_certificate_problem(exc, text):
        return DirectoryMisconfigured(
            f"the TLS certificate of {where} could not be verified ({_ssl_reason(text)}); "
            "set BALIE_LDAP_CA_FILE to the PEM file of its CA"
        )
    if isinstance(exc, LDAPCommunicationError | LDAPResponseTimeoutError | OSError):
        return DirectoryUnavailable(f"{where} cannot be reached: {text}")
    if isinstance(exc, LDAPStartTLSError):
        return DirectoryMisconfigured(f"StartTLS with {where} failed: {text}")
    return DirectoryMisconfigured(f"{where}: {type(exc).__name__}: {text}")


def from_result(result: dict[str, Any], where: str, doing: str) -> DirectoryError:
    """A failed operation's result (``connection.result``) as the port's error; ``doing``
    says what was asked, e.g. "search ou=people,dc=example,dc=org"."""
    code = result.get("result")
    said = _said(result)
    if code in TRANSIENT:
        return DirectoryUnavailable(f"{where} could not {doing} for now: {said}")
    if code == INVALID_CREDENTIALS:
        return DirectoryMisconfigured(f"{where} refused to {doing}: invalid credentials")
    if code == INSUFFICIENT_ACCESS:
        return DirectoryMisconfigured(
            f"{where} does not let the bind DN {doing} (insufficient access rights)"
        )
    return DirectoryMisconfigured(f"{where} refused to {doing}: {said}")


def is_policy_refusal(result: dict[str, Any]) -> bool:
    """Whether a failed password change was the server's password policy saying no."""
    code = result.get("result")
    if code == CONSTRAINT_VIOLATION:
        return True
    message = str(result.get("message") or "")
    return code == UNWILLING_TO_PERFORM and (
        ppolicy_error(result.get("controls")) is not None or "0000052D" in message.upper()
    )


def rejection(result: dict[str, Any]) -> PasswordRejected:
    return PasswordRejected(rejection_reason(result))


def rejection_reason(result: dict[str, Any]) -> str:
    """The policy refusal in plain words: the ppolicy control's code, else the diagnostic."""
    code = ppolicy_error(result.get("controls"))
    if code in PPOLICY_REASONS:
        return PPOLICY_REASONS[code]
    message = str(result.get("message") or "")
    if "0000052D" in message.upper():
        return AD_POLICY_REASON
    return plain_sentence(message) or DEFAULT_REASON


def ppolicy_error(controls: dict[str, Any] | None) -> int | None:
    """The ``error`` of a PasswordPolicyResponseValue (``SEQUENCE { warning [0] OPTIONAL,
    error [1] ENUMERATED OPTIONAL }``), which ldap3 leaves undecoded."""
    control = (controls or {}).get(PPOLICY_OID)
    value = control.get("value") if isinstance(control, dict) else None
    if not isinstance(value, bytes) or len(value) < 2 or value[0] != 0x30 or value[1] >= 0x80:
        return None
    body, at = value[2 : 2 + value[1]], 0
    while at + 2 <= len(body):
        tag, length = body[at], body[at + 1]
        if length >= 0x80:
            return None  # the elements are a few bytes; anything else is not this control
        content = body[at + 2 : at + 2 + length]
        if tag == 0x81 and content:
            return int.from_bytes(content, "big")
        at += 2 + length
    return None


def plain_sentence(message: str) -> str:
    """A server's diagnostic message as one short sentence: no NULs, codes or newlines."""
    text = one_line(message.replace("\x00", " "))
    text = re.sub(r"^[0-9A-Fa-f]{8}: ", "", text)
    if not text:
        return ""
    if len(text) > _MAX_REASON:
        text = text[:_MAX_REASON].rsplit(" ", 1)[0] + "..."
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def one_line(text: str) -> str:
    return " ".join(text.split())


def _said(result: dict[str, Any]) -> str:
    description = str(result.get("description") or f"result {result.get('result')}")
    message = one_line(str(result.get("message") or ""))
    return f"{description} ({message})" if message else description


def _is_certificate_problem(exc: Exception, text: str) -> bool:
    if isinstance(exc, LDAPCertificateError | ssl.SSLCertVerificationError):
        return True
    upper = text.upper()
    return "CERTIFICATE_VERIFY_FAILED" in upper or "DOESN'T MATCH ANY NAME" in upper


def _ssl_reason(text: str) -> str:
    """``[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed ... (_ssl.c:1006)``
    -> ``certificate verify failed: self-signed ...``."""
    match = re.search(r"certificate verify failed[^(]*", text)
    if match:
        return match.group(0).strip()
    if "doesn't match any name" in text:
        return "the certificate does not name this host"
    return text[:_MAX_REASON]
