"""Password rules and password hashing (NIST SP 800-63B by default; seeds 003 and 004 as presets).

The default policy follows NIST SP 800-63B: at least 8 characters (an organization may ask for
up to 15), at least 64 allowed, any Unicode character, no composition rules, and no password
that is among the most common ones. The seeds' composition rules are presets an organization
may choose; they come on top of the length and blocklist rules, never instead of them.

Lengths are counted in Unicode code points after NFKC normalization, and the hasher hashes that
same normalized form, so "ﬁ" and "fi" are one password however the keyboard sends it.

Nothing here logs or keeps a password; a violation names the rule, never the password.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING

from argon2 import PasswordHasher as _Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

from flows.domain import Language, PasswordPolicyName

if TYPE_CHECKING:
    from flows.model import Organization

MIN_LENGTH = 8
"""NIST SP 800-63B: at least 8 characters."""
MAX_MIN_LENGTH = 15
"""The highest minimum an organization may choose (NIST: 15 where a password is the only factor)."""
DEFAULT_MAX_LENGTH = 128
"""Long passphrases are welcome; the limit only bounds the hashing work per attempt."""
LOWEST_MAX_LENGTH = 64
"""NIST SP 800-63B: verifiers allow at least 64 characters."""
HIGHEST_MAX_LENGTH = 1024
SPECIALS = "!?@#$%^&[]()"
"""Seed 004: the special characters of which a password needs at least one."""
MIN_CONTEXT_WORD = 3
"""Context words shorter than this (a house number, initials) are not checked."""


class PasswordRule(StrEnum):
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    NEEDS_LOWER = "needs_lower"
    NEEDS_UPPER = "needs_upper"
    NEEDS_DIGIT = "needs_digit"
    NEEDS_SPECIAL = "needs_special"
    COMMON = "common"
    CONTAINS_IDENTIFIER = "contains_identifier"
    """Mostly the person's e-mail address, customer number, name or the organization's name."""


@dataclass(frozen=True)
class Violation:
    """One rule the password breaks, with what the person needs to know to fix it."""

    rule: PasswordRule
    min_length: int | None = None
    """TOO_SHORT: the minimum; CONTAINS_IDENTIFIER: the length needed besides the word."""
    max_length: int | None = None
    """TOO_LONG: the maximum."""
    length: int | None = None
    """TOO_SHORT, TOO_LONG: the password's own length in characters (code points)."""
    specials: str | None = None
    """NEEDS_SPECIAL: the characters of which one is needed."""

    def params(self) -> dict[str, int | str]:
        """The violation's parameters by name, for ``str.format`` in a sentence."""
        values = {
            "min_length": self.min_length,
            "max_length": self.max_length,
            "length": self.length,
            "specials": self.specials,
        }
        return {name: value for name, value in values.items() if value is not None}

    def explain(self, language: Language = Language.NL) -> str:
        """One sentence that says exactly which rule was not met."""
        return EXPLANATIONS[self.rule][language].format(**self.params())


EXPLANATIONS: dict[PasswordRule, dict[Language, str]] = {
    PasswordRule.TOO_SHORT: {
        Language.NL: "Het wachtwoord is te kort: {length} tekens, minimaal {min_length} nodig.",
        Language.EN: "The password is too short: {length} characters, at least {min_length} "
        "needed.",
    },
    PasswordRule.TOO_LONG: {
        Language.NL: "Het wachtwoord is te lang: {length} tekens, hooguit {max_length} toegestaan.",
        Language.EN: "The password is too long: {length} characters, at most {max_length} allowed.",
    },
    PasswordRule.NEEDS_LOWER: {
        Language.NL: "Het wachtwoord moet minstens één kleine letter bevatten.",
        Language.EN: "The password needs at least one lower-case letter.",
    },
    PasswordRule.NEEDS_UPPER: {
        Language.NL: "Het wachtwoord moet minstens één hoofdletter bevatten.",
        Language.EN: "The password needs at least one upper-case letter.",
    },
    PasswordRule.NEEDS_DIGIT: {
        Language.NL: "Het wachtwoord moet minstens één cijfer bevatten.",
        Language.EN: "The password needs at least one digit.",
    },
    PasswordRule.NEEDS_SPECIAL: {
        Language.NL: "Het wachtwoord moet minstens één van deze tekens bevatten: {specials}",
        Language.EN: "The password needs at least one of these characters: {specials}",
    },
    PasswordRule.COMMON: {
        Language.NL: "Dit wachtwoord staat op de lijst van veelgebruikte wachtwoorden en is "
        "daardoor makkelijk te raden.",
        Language.EN: "This password is on the list of commonly used passwords, so it is easy "
        "to guess.",
    },
    PasswordRule.CONTAINS_IDENTIFIER: {
        Language.NL: "Het wachtwoord bestaat vooral uit uw e-mailadres, klantnummer of naam; "
        "voeg minstens {min_length} andere tekens toe of kies iets anders.",
        Language.EN: "The password is mostly your e-mail address, customer number or name; "
        "add at least {min_length} other characters or choose something else.",
    },
}


def normalize(password: str) -> str:
    """NFKC, as NIST SP 800-63B advises before counting and hashing."""
    return unicodedata.normalize("NFKC", password)


def length(password: str) -> int:
    """The length in Unicode code points after normalization."""
    return len(normalize(password))


@dataclass(frozen=True)
class PasswordPolicy:
    name: PasswordPolicyName = PasswordPolicyName.NIST
    min_length: int = MIN_LENGTH
    max_length: int = DEFAULT_MAX_LENGTH

    def __post_init__(self) -> None:
        if not MIN_LENGTH <= self.min_length <= MAX_MIN_LENGTH:
            raise ValueError(
                f"minimum password length must be {MIN_LENGTH} to {MAX_MIN_LENGTH}, "
                f"not {self.min_length}"
            )
        if not LOWEST_MAX_LENGTH <= self.max_length <= HIGHEST_MAX_LENGTH:
            raise ValueError(
                f"maximum password length must be {LOWEST_MAX_LENGTH} to {HIGHEST_MAX_LENGTH}, "
                f"not {self.max_length}"
            )

    @classmethod
    def for_organization(cls, organization: Organization) -> PasswordPolicy:
        return cls(name=organization.password_policy, min_length=organization.password_min_length)

    @property
    def composition(self) -> tuple[PasswordRule, ...]:
        """The character classes the preset asks for (none under NIST)."""
        return COMPOSITION[self.name]


COMPOSITION: dict[PasswordPolicyName, tuple[PasswordRule, ...]] = {
    PasswordPolicyName.NIST: (),
    PasswordPolicyName.UPPER_DIGIT: (PasswordRule.NEEDS_UPPER, PasswordRule.NEEDS_DIGIT),
    PasswordPolicyName.UPPER_LOWER_DIGIT_SPECIAL: (
        PasswordRule.NEEDS_LOWER,
        PasswordRule.NEEDS_UPPER,
        PasswordRule.NEEDS_DIGIT,
        PasswordRule.NEEDS_SPECIAL,
    ),
}


def _has(rule: PasswordRule, password: str) -> bool:
    if rule is PasswordRule.NEEDS_LOWER:
        return any(ch.islower() for ch in password)
    if rule is PasswordRule.NEEDS_UPPER:
        return any(ch.isupper() for ch in password)
    if rule is PasswordRule.NEEDS_DIGIT:
        return any(ch.isdecimal() for ch in password)
    if rule is PasswordRule.NEEDS_SPECIAL:
        return any(ch in SPECIALS for ch in password)
    raise ValueError(f"not a composition rule: {rule}")


def check(
    policy: PasswordPolicy, password: str, context_words: Iterable[str | None] = ()
) -> list[Violation]:
    """Every rule of the policy that the password breaks, in a fixed order; empty when fine.

    ``context_words`` are words that must not make up the password (NIST's "context-specific
    words"): the person's e-mail address, customer number, name, the organization's name.
    A password is refused when, with such a word taken out, fewer than the minimum number of
    characters remain; a long passphrase that merely mentions one is fine.
    """
    text = normalize(password)
    size = len(text)
    violations: list[Violation] = []
    if size < policy.min_length:
        violations.append(
            Violation(PasswordRule.TOO_SHORT, min_length=policy.min_length, length=size)
        )
    if size > policy.max_length:
        violations.append(
            Violation(PasswordRule.TOO_LONG, max_length=policy.max_length, length=size)
        )
    for rule in policy.composition:
        if not _has(rule, text):
            specials = SPECIALS if rule is PasswordRule.NEEDS_SPECIAL else None
            violations.append(Violation(rule, specials=specials))
    folded = text.casefold()
    if is_common(folded):
        violations.append(Violation(PasswordRule.COMMON))
    if _mostly_context(folded, context_words, policy.min_length):
        violations.append(Violation(PasswordRule.CONTAINS_IDENTIFIER, min_length=policy.min_length))
    return violations


def _context_variants(words: Iterable[str | None]) -> set[str]:
    variants: set[str] = set()
    for word in words:
        if not word:
            continue
        folded = normalize(word).casefold().strip()
        variants.add(folded)
        if "@" in folded:
            variants.add(folded.split("@", 1)[0])  # the mailbox name on its own
        variants.add("".join(folded.split()))  # "Eva Jansen" typed as "evajansen"
    return {variant for variant in variants if len(variant) >= MIN_CONTEXT_WORD}


def _mostly_context(folded: str, words: Iterable[str | None], min_length: int) -> bool:
    for word in _context_variants(words):
        if word in folded and len(folded.replace(word, "")) < min_length:
            return True
    return False


@cache
def common_passwords() -> frozenset[str]:
    """The shipped blocklist (flows/data/common_passwords.txt), read once per process."""
    text = files("flows").joinpath("data", "common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def is_common(password: str) -> bool:
    """True when the password, ignoring case, is on the shipped list."""
    return normalize(password).casefold() in common_passwords()


class PasswordHasher:
    """Argon2id with OWASP's recommended parameters: 19 MiB of memory, 2 passes, 1 lane.

    The password is NFKC-normalized first, as ``check`` counts it.
    """

    MEMORY_COST_KIB = 19_456
    TIME_COST = 2
    PARALLELISM = 1

    def __init__(self) -> None:
        self._hasher = _Argon2Hasher(
            time_cost=self.TIME_COST,
            memory_cost=self.MEMORY_COST_KIB,
            parallelism=self.PARALLELISM,
            type=Type.ID,
        )

    def hash(self, password: str) -> str:
        return self._hasher.hash(normalize(password))

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, normalize(password))
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters (or is no argon2 hash at all)."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True
