"""Password policies (NIST SP 800-63B by default, seeds 003 and 004 as presets) and hashing."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher as Argon2Hasher
from argon2 import extract_parameters

from flows.domain import Language, PasswordPolicyName
from flows.model import Organization
from flows.password_rules import (
    SPECIALS,
    PasswordHasher,
    PasswordPolicy,
    PasswordRule,
    Violation,
    check,
    common_passwords,
    is_common,
    length,
)

NIST = PasswordPolicy()
SEED_003 = PasswordPolicy(PasswordPolicyName.UPPER_DIGIT)
SEED_004 = PasswordPolicy(PasswordPolicyName.UPPER_LOWER_DIGIT_SPECIAL)


def rules(policy: PasswordPolicy, password: str, *context: str | None) -> list[PasswordRule]:
    return [violation.rule for violation in check(policy, password, context)]


# --- NIST (the default) -------------------------------------------------------------------


def test_nist_defaults() -> None:
    assert NIST.name is PasswordPolicyName.NIST
    assert NIST.min_length == 8
    assert NIST.max_length >= 64
    assert NIST.composition == ()


def test_exactly_eight_characters_pass_and_seven_fail() -> None:
    assert rules(NIST, "kwxbvrtz") == []
    assert check(NIST, "kwxbvrt") == [Violation(PasswordRule.TOO_SHORT, min_length=8, length=7)]
    assert rules(NIST, "") == [PasswordRule.TOO_SHORT]


def test_long_passphrases_pass() -> None:
    sixty_four = "de kat van de buren slaapt elke middag op onze schuur in de zon!"
    assert len(sixty_four) == 64
    assert rules(NIST, sixty_four) == []
    hundred = (
        "mijn fiets staat al drie weken bij het station en niemand heeft hem meegenomen, "
        "wat een geluk toch!!"
    )
    assert len(hundred) == 100
    assert rules(NIST, hundred) == []


def test_too_long_names_the_maximum() -> None:
    password = "x7" * NIST.max_length
    [violation] = check(NIST, password)
    assert violation == Violation(
        PasswordRule.TOO_LONG, max_length=NIST.max_length, length=2 * NIST.max_length
    )
    assert str(NIST.max_length) in violation.explain(Language.EN)


def test_any_unicode_and_length_in_code_points() -> None:
    password = "wachtwoord-ÿ€漢字"
    assert length(password) == 15
    assert rules(NIST, password) == []
    # Seven code points, even though UTF-8 needs far more bytes: too short.
    assert rules(NIST, "漢字漢字漢字漢") == [PasswordRule.TOO_SHORT]
    # Emoji and spaces are characters like any other.
    assert rules(NIST, "🐈 🐈 🐈 🐈 ") == []


def test_length_counts_after_nfkc_normalization() -> None:
    decomposed = "cafe\u0301-terras"  # é typed as e + combining accent
    assert length(decomposed) == len("café-terras") == 11
    assert length("ﬁﬁﬁﬁ") == 8  # the ligature ﬁ becomes "fi" under NFKC


def test_common_password_refused_for_that_reason_alone() -> None:
    assert check(NIST, "Password1") == [Violation(PasswordRule.COMMON)]
    assert rules(NIST, "PASSWORD1") == [PasswordRule.COMMON]
    assert rules(NIST, "iloveyou") == [PasswordRule.COMMON]
    assert rules(NIST, "1234567") == [PasswordRule.TOO_SHORT, PasswordRule.COMMON]


def test_no_composition_rules_under_nist() -> None:
    assert rules(NIST, "alleen kleine letters") == []
    assert rules(NIST, "93847561029") == []


def test_configurable_minimum_up_to_fifteen() -> None:
    strict = PasswordPolicy(min_length=15)
    assert rules(strict, "kwxbvrtzqpmn-14") == []
    assert check(strict, "kwxbvrtzqpmn14") == [
        Violation(PasswordRule.TOO_SHORT, min_length=15, length=14)
    ]
    for wrong in (7, 16):
        with pytest.raises(ValueError, match="8 to 15"):
            PasswordPolicy(min_length=wrong)
    with pytest.raises(ValueError, match="maximum"):
        PasswordPolicy(max_length=63)


def test_policy_for_organization() -> None:
    organization = Organization(
        name="X", partner_id="X-1", password_policy=PasswordPolicyName.UPPER_DIGIT
    )
    organization.password_min_length = 12
    policy = PasswordPolicy.for_organization(organization)
    assert policy == PasswordPolicy(PasswordPolicyName.UPPER_DIGIT, min_length=12)


def test_context_words_make_a_password_weak() -> None:
    words = ("eva.jansen@kantoor.example", "100234", "Eva Jansen", "BLG Wonen")
    assert rules(NIST, "eva.jansen@kantoor.example", *words) == [PasswordRule.CONTAINS_IDENTIFIER]
    assert rules(NIST, "Eva.Jansen!", *words) == [PasswordRule.CONTAINS_IDENTIFIER]
    assert rules(NIST, "100234ab", *words) == [PasswordRule.CONTAINS_IDENTIFIER]
    assert rules(NIST, "EvaJansen", *words) == [PasswordRule.CONTAINS_IDENTIFIER]
    # A passphrase that merely mentions one is fine, and short words are not checked.
    assert rules(NIST, "bij BLG Wonen woon ik al sinds de zomer", *words) == []
    assert rules(NIST, "kwxbvrtz12", "12", None) == []


# --- seed 003: at least 8, with an upper-case letter and a digit ---------------------------


def test_seed_003_each_missing_element_reported() -> None:
    assert rules(SEED_003, "Zonnebloem7") == []
    assert rules(SEED_003, "zonnebloem7") == [PasswordRule.NEEDS_UPPER]
    assert rules(SEED_003, "Zonnebloem") == [PasswordRule.NEEDS_DIGIT]
    assert rules(SEED_003, "zonnebloem") == [PasswordRule.NEEDS_UPPER, PasswordRule.NEEDS_DIGIT]
    assert rules(SEED_003, "Zonne7") == [PasswordRule.TOO_SHORT]
    assert rules(SEED_003, "ÉCOLE2024") == []  # a Unicode capital is a capital
    assert rules(SEED_003, "Password1") == [PasswordRule.COMMON]  # the blocklist stays


# --- seed 004: lower, upper, digit and one of !?@#$%^&[]() ----------------------------------


def test_seed_004_each_missing_element_reported() -> None:
    assert rules(SEED_004, "Zonnebloem7!") == []
    assert rules(SEED_004, "ZONNEBLOEM7!") == [PasswordRule.NEEDS_LOWER]
    assert rules(SEED_004, "zonnebloem7!") == [PasswordRule.NEEDS_UPPER]
    assert rules(SEED_004, "Zonnebloem!!") == [PasswordRule.NEEDS_DIGIT]
    assert rules(SEED_004, "Zonnebloem77") == [PasswordRule.NEEDS_SPECIAL]
    # Other punctuation is allowed but is not one of the seed's special characters.
    assert rules(SEED_004, "Zonnebloem-7") == [PasswordRule.NEEDS_SPECIAL]
    for special in SPECIALS:
        assert rules(SEED_004, f"Zonnebloem7{special}") == []


def test_seed_004_names_the_special_characters() -> None:
    [violation] = check(SEED_004, "Zonnebloem77")
    assert violation.specials == "!?@#$%^&[]()"
    assert "!?@#$%^&[]()" in violation.explain(Language.NL)


def test_multiple_violations_reported_together() -> None:
    assert rules(SEED_004, "qwerty") == [
        PasswordRule.TOO_SHORT,
        PasswordRule.NEEDS_UPPER,
        PasswordRule.NEEDS_DIGIT,
        PasswordRule.NEEDS_SPECIAL,
        PasswordRule.COMMON,
    ]
    explained = [violation.explain(Language.EN) for violation in check(SEED_004, "qwerty")]
    assert explained[0] == "The password is too short: 6 characters, at least 8 needed."
    assert len(set(explained)) == len(explained)


def test_every_rule_explained_in_both_languages() -> None:
    for rule in PasswordRule:
        violation = Violation(rule, min_length=8, max_length=128, length=3, specials=SPECIALS)
        for language in Language:
            assert "{" not in violation.explain(language)


# --- the shipped list -----------------------------------------------------------------------


def test_shipped_list_of_common_passwords() -> None:
    words = common_passwords()
    assert len(words) >= 3000
    assert all(word == word.casefold() and word.strip() == word for word in words)
    assert not any(word.startswith("#") for word in words)
    assert {"123456", "password", "qwerty", "password1"} <= words
    assert common_passwords() is words  # read once per process
    assert is_common("QWERTY") and not is_common("kwxbvrtz")


# --- hashing ------------------------------------------------------------------------------


def test_hash_round_trip_and_wrong_password() -> None:
    hasher = PasswordHasher()
    password_hash = hasher.hash("wachtwoord-ÿ€漢字")
    assert "wachtwoord" not in password_hash
    assert hasher.verify(password_hash, "wachtwoord-ÿ€漢字")
    assert not hasher.verify(password_hash, "wachtwoord-ÿ€漢")
    assert not hasher.verify(password_hash, "")
    assert not hasher.verify("not a hash", "wachtwoord-ÿ€漢字")
    assert hasher.hash("x" * 20) != hasher.hash("x" * 20)  # salted


def test_hash_verifies_the_normalized_password() -> None:
    hasher = PasswordHasher()
    assert hasher.verify(hasher.hash("café-terras"), "cafe\u0301-terras")


def test_hashes_are_argon2id_with_owasp_parameters() -> None:
    hasher = PasswordHasher()
    password_hash = hasher.hash("correct horse battery staple")
    assert password_hash.startswith("$argon2id$")
    parameters = extract_parameters(password_hash)
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (
        19_456,
        2,
        1,
    )
    assert not hasher.needs_rehash(password_hash)
    assert hasher.needs_rehash(Argon2Hasher(time_cost=1, memory_cost=8_192).hash("x"))
    assert hasher.needs_rehash("not a hash")
