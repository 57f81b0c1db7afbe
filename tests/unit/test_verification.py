"""The code service (flows.verification) through the in-memory store: no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flows.domain import CodePurpose
from flows.keys import KeyedHasher
from flows.turn import DeskPolicy
from flows.verification import (
    ACTIVATION_CODE,
    SHORT_CODE,
    CodeService,
    Failure,
    Target,
    stored_code_matches,
)
from tests.fakes.memory_store import MemoryStore, NotFaked, as_store

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHAT = 4242
TARGET = Target(CodePurpose.REGISTRATION, "draft:1", "eva@example.org", 1)
TEN_MINUTES = timedelta(minutes=10)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def hasher() -> KeyedHasher:
    return KeyedHasher.ephemeral()


async def test_an_issued_code_confirms_once_for_its_exact_target(
    store: MemoryStore, hasher: KeyedHasher
) -> None:
    async with as_store(store).transaction() as tx:
        codes = CodeService(tx, hasher, DeskPolicy(), NOW)
        issued = await codes.issue(TARGET, SHORT_CODE, TEN_MINUTES)
        first = await codes.verify_bound(TARGET, issued.id, issued.code, SHORT_CODE, CHAT)
        again = await codes.verify_bound(TARGET, issued.id, issued.code, SHORT_CODE, CHAT)
    assert first.confirmed and first.code is not None and first.code.used_at == NOW
    assert again.failure is Failure.USED_UP
    [row] = store.records.codes.values()
    assert issued.code not in row.code_hash
    assert stored_code_matches(hasher, row, issued.code)


async def test_another_destination_or_subject_is_unknown(
    store: MemoryStore, hasher: KeyedHasher
) -> None:
    elsewhere = Target(TARGET.purpose, TARGET.subject, "other@example.org", 1)
    other_draft = Target(TARGET.purpose, "draft:2", TARGET.destination, 1)
    async with as_store(store).transaction() as tx:
        codes = CodeService(tx, hasher, DeskPolicy(), NOW)
        issued = await codes.issue(TARGET, SHORT_CODE, TEN_MINUTES)
        for target in (elsewhere, other_draft):
            result = await codes.verify_bound(target, issued.id, issued.code, SHORT_CODE, CHAT)
            assert result.failure is Failure.UNKNOWN


async def test_a_new_code_burns_the_old_one(store: MemoryStore, hasher: KeyedHasher) -> None:
    async with as_store(store).transaction() as tx:
        codes = CodeService(tx, hasher, DeskPolicy(), NOW)
        old = await codes.issue(TARGET, SHORT_CODE, TEN_MINUTES)
        new = await codes.issue(TARGET, SHORT_CODE, TEN_MINUTES)
        stale = await codes.verify_bound(TARGET, old.id, old.code, SHORT_CODE, CHAT)
        fresh = await codes.verify_bound(TARGET, new.id, new.code, SHORT_CODE, CHAT)
    assert stale.failure is Failure.USED_UP
    assert fresh.confirmed


async def test_an_expired_code_does_not_confirm(store: MemoryStore, hasher: KeyedHasher) -> None:
    async with as_store(store).transaction() as tx:
        issued = await CodeService(tx, hasher, DeskPolicy(), NOW).issue(
            TARGET, SHORT_CODE, TEN_MINUTES
        )
        later = CodeService(tx, hasher, DeskPolicy(), NOW + TEN_MINUTES)
        result = await later.verify_bound(TARGET, issued.id, issued.code, SHORT_CODE, CHAT)
    assert result.failure is Failure.EXPIRED


async def test_the_last_wrong_try_burns_the_code(store: MemoryStore, hasher: KeyedHasher) -> None:
    async with as_store(store).transaction() as tx:
        codes = CodeService(tx, hasher, DeskPolicy(), NOW)
        issued = await codes.issue(TARGET, SHORT_CODE, TEN_MINUTES, max_attempts=2)
        wrong = "000000" if issued.code != "000000" else "111111"
        first = await codes.verify_bound(TARGET, issued.id, wrong, SHORT_CODE, CHAT)
        second = await codes.verify_bound(TARGET, issued.id, wrong, SHORT_CODE, CHAT)
        right = await codes.verify_bound(TARGET, issued.id, issued.code, SHORT_CODE, CHAT)
    assert [first.failure, second.failure, right.failure] == [
        Failure.WRONG,
        Failure.LAST_TRY,
        Failure.USED_UP,
    ]


async def test_malformed_input_is_not_counted_against_the_code(
    store: MemoryStore, hasher: KeyedHasher
) -> None:
    async with as_store(store).transaction() as tx:
        codes = CodeService(tx, hasher, DeskPolicy(), NOW)
        issued = await codes.issue(TARGET, SHORT_CODE, TEN_MINUTES)
        result = await codes.verify_bound(TARGET, issued.id, "12ab", SHORT_CODE, CHAT)
    assert result.failure is Failure.MALFORMED
    assert store.records.codes[issued.id].attempts == 0


async def test_a_chat_that_fails_too_often_is_locked_out(
    store: MemoryStore, hasher: KeyedHasher
) -> None:
    policy = DeskPolicy(wrong_attempts_per_hour=3)
    async with as_store(store).transaction() as tx:
        codes = CodeService(tx, hasher, policy, NOW)
        issued = await codes.issue(TARGET, SHORT_CODE, TEN_MINUTES, max_attempts=10)
        wrong = "000000" if issued.code != "000000" else "111111"
        for _ in range(3):
            await codes.verify_bound(TARGET, issued.id, wrong, SHORT_CODE, CHAT)
        locked = await codes.verify_bound(TARGET, issued.id, issued.code, SHORT_CODE, CHAT)
        other_chat = await codes.verify_bound(TARGET, issued.id, issued.code, SHORT_CODE, 1)
    assert locked.failure is Failure.LOCKED
    assert other_chat.confirmed


async def test_an_activation_code_is_found_by_its_hash_for_its_subjects_only(
    store: MemoryStore, hasher: KeyedHasher
) -> None:
    target = Target(CodePurpose.ACTIVATION, "customer:7", "letter", 1)
    async with as_store(store).transaction() as tx:
        codes = CodeService(tx, hasher, DeskPolicy(), NOW)
        issued = await codes.issue(target, ACTIVATION_CODE, timedelta(days=14))
        typed = "-".join([issued.code[:4], issued.code[4:8], issued.code[8:]]).lower()
        stranger = await codes.verify_found(
            CodePurpose.ACTIVATION, typed, ACTIVATION_CODE, CHAT, "1001", {"customer:8"}
        )
        found = await codes.verify_found(
            CodePurpose.ACTIVATION, typed, ACTIVATION_CODE, CHAT, "1001", {"customer:7"}
        )
    assert stranger.failure is Failure.UNKNOWN
    assert found.confirmed and found.code is not None and found.code.id == issued.id


async def test_a_failed_transaction_leaves_no_code(store: MemoryStore, hasher: KeyedHasher) -> None:
    with pytest.raises(RuntimeError):
        async with as_store(store).transaction() as tx:
            await CodeService(tx, hasher, DeskPolicy(), NOW).issue(TARGET, SHORT_CODE, TEN_MINUTES)
            raise RuntimeError("the step failed")
    assert store.records.codes == {}


async def test_a_port_that_is_not_faked_says_so(store: MemoryStore) -> None:
    async with as_store(store).transaction() as tx:
        with pytest.raises(NotFaked, match=r"tx\.outbox"):
            _ = tx.outbox
