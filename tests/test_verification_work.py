"""Every verification path does the same work: one keyed hash, no argon2.

Timing must not tell a known account from an unknown one, a wrong code from a locked-out
chat, or an account over its hourly limit from one under it. The cost that varies with
secrets is the hashing, so this counts it per path with an instrumented hasher, instead of
measuring time (which a test must not assert).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

import argon2
import pytest

from flows.activation_codes import issue
from flows.buttons import Menu, MenuChoice
from flows.keys import KeyedHasher
from flows.turn import DeskPolicy
from tests.support import TEST_HASHER, DeskDriver, FakeClock, pressed, seed_customers
from tests.support import texts_of as texts


class CountingHasher(KeyedHasher):
    """The tests' key, counting every keyed hash of a code it computes (signing a staff
    card's buttons is not a verification: it happens after the answer is decided)."""

    def __init__(self) -> None:
        super().__init__(b"balie-tests-secret-key-0123456789")
        self.calls = 0

    def _mac(self, key: bytes, label: str, text: str) -> bytes:
        if label.startswith("code:"):
            self.calls += 1
        return super()._mac(key, label, text)


@pytest.fixture
def argon2_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    calls: list[str] = []
    original_hash, original_verify = argon2.PasswordHasher.hash, argon2.PasswordHasher.verify

    def counting_hash(self: argon2.PasswordHasher, *args: object, **kwargs: object) -> str:
        calls.append("hash")
        return original_hash(self, *args, **kwargs)  # type: ignore[arg-type]

    def counting_verify(self: argon2.PasswordHasher, *args: object, **kwargs: object) -> bool:
        calls.append("verify")
        return original_verify(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(argon2.PasswordHasher, "hash", counting_hash)
    monkeypatch.setattr(argon2.PasswordHasher, "verify", counting_verify)
    yield calls


@pytest.fixture
async def counted(desk: DeskDriver) -> tuple[DeskDriver, CountingHasher]:
    await seed_customers(desk.store, desk.clock)
    async with desk.store.transaction() as tx:
        for number in ("1001", "1007"):
            [customer] = await tx.customers.with_number(number)
            customer.account_active = True
    hasher = CountingHasher()
    policy = DeskPolicy(default_language="en", code_requests_per_hour=2)  # type: ignore[arg-type]
    return DeskDriver(desk.store, desk.clock, policy, hasher), hasher


async def work_of(hasher: CountingHasher, step: Callable[[], Awaitable[object]]) -> int:
    before = hasher.calls
    await step()
    return hasher.calls - before


async def test_every_redeem_path_does_one_keyed_hash(
    counted: tuple[DeskDriver, CountingHasher], argon2_calls: list[str]
) -> None:
    desk, hasher = counted
    clock: FakeClock = desk.clock
    async with desk.store.transaction() as tx:
        live = await tx.customers.with_number("1001")
        issued = await issue(tx, hasher, live[0], "klant1001@thuis.example", clock.now(), 14)
        expiring = await tx.customers.with_number("1008")
        old = await issue(tx, hasher, expiring[0], "klant1008@thuis.example", clock.now(), 1)
    clock.advance(days=2)  # 1008's code has expired; 1001's is live

    async def typed(user: int, number: str, code: str) -> Callable[[], Awaitable[object]]:
        await desk.send(user, "/activate")
        await desk.send(user, number)
        return lambda: desk.send(user, code)

    paths: dict[str, int] = {}
    paths["unknown number"] = await work_of(hasher, await typed(9001, "424242", "AAAA-BBBB-CCCC"))
    paths["known, wrong code"] = await work_of(hasher, await typed(9002, "1001", "AAAA-BBBB-CCCC"))
    paths["known, expired code"] = await work_of(hasher, await typed(9003, "1008", old.code))
    paths["blocked account"] = await work_of(hasher, await typed(9004, "1007", "AAAA-BBBB-CCCC"))
    for _ in range(5):  # chat 9005 is now over its limit for 1001
        await (await typed(9005, "1001", "AAAA-BBBB-CCCC"))()
    paths["over the (chat, account) limit"] = await work_of(
        hasher, await typed(9005, "1001", issued.code)
    )
    for number in range(5000, 5010):  # chat 9006 is over its overall limit
        await (await typed(9006, str(number), "AAAA-BBBB-CCCC"))()
    paths["over the chat limit"] = await work_of(hasher, await typed(9006, "1001", issued.code))
    paths["known, right code"] = await work_of(hasher, await typed(9007, "1001", issued.code))
    paths["known, code used"] = await work_of(hasher, await typed(9008, "1001", issued.code))
    print("\nkeyed hashes per redeem path:", paths)
    assert set(paths.values()) == {1}, paths
    assert argon2_calls == []


async def test_every_request_path_does_one_keyed_hash(
    counted: tuple[DeskDriver, CountingHasher], argon2_calls: list[str]
) -> None:
    desk, hasher = counted

    async def activation(user: int, number: str, house: str = "12a") -> int:
        await desk.send(user, "/activation")
        await desk.send(user, number)
        await desk.send(user, "3511 AB")
        await desk.send(user, house)
        return await work_of(hasher, lambda: desk.press(user, pressed(Menu(MenuChoice.SKIP))))

    async def reset(user: int, address: str) -> int:
        await desk.send(user, "/password")
        return await work_of(hasher, lambda: desk.send(user, address))

    paths = {
        "activation: unknown": await activation(9101, "424242"),
        "activation: wrong house number": await activation(9102, "1001", "99"),
        "activation: ineligible": await activation(9103, "1003"),
        "activation: by e-mail": await activation(9104, "1001"),
        "activation: by letter": await activation(9105, "1002"),
        "activation: account over its limit": 0,
        "reset: unknown": await reset(9201, "nobody@nowhere.example"),
        "reset: known": await reset(9202, "klant1001@thuis.example"),
        "reset: blocked": await reset(9203, "klant1007@thuis.example"),
        "reset: account over its limit": 0,
    }
    await activation(9106, "1001")  # the second request for 1001 this hour (limit 2)
    paths["activation: account over its limit"] = await activation(9107, "1001")
    await reset(9204, "klant1001@thuis.example")
    paths["reset: account over its limit"] = await reset(9205, "klant1001@thuis.example")
    print("\nkeyed hashes per request path:", paths)
    assert set(paths.values()) == {1}, paths
    assert argon2_calls == []


async def test_every_reset_code_path_does_one_keyed_hash(
    counted: tuple[DeskDriver, CountingHasher], argon2_calls: list[str]
) -> None:
    desk, hasher = counted

    async def at_code_step(user: int, address: str) -> str | None:
        await desk.send(user, "/password")
        await desk.send(user, address)
        mails = [m for m in await desk.outbox() if m.recipient == address]
        return texts_code(mails[-1].body) if mails else None

    await at_code_step(9301, "nobody@nowhere.example")
    code = await at_code_step(9302, "klant1001@thuis.example")
    assert code is not None
    wrong = "000000" if code != "000000" else "111111"
    paths = {
        "unknown address": await work_of(hasher, lambda: desk.send(9301, code)),
        "known, wrong code": await work_of(hasher, lambda: desk.send(9302, wrong)),
        "known, right code": await work_of(hasher, lambda: desk.send(9302, code)),
    }
    code = await at_code_step(9303, "klant1001@thuis.example")
    assert code is not None
    desk.clock.advance(minutes=31)
    paths["known, expired code"] = await work_of(hasher, lambda: desk.send(9303, code))
    print("\nkeyed hashes per reset-code path:", paths)
    assert set(paths.values()) == {1}, paths
    assert argon2_calls == []


def texts_code(body: str) -> str:
    return next(word.strip(".:") for word in body.split() if word.strip(".:").isdigit())


def test_the_tests_key_is_the_support_key() -> None:
    assert CountingHasher().current_key_id == TEST_HASHER.current_key_id
    assert texts is not None


async def test_identification_answers_are_held_to_the_steady_time(
    counted: tuple[DeskDriver, CountingHasher],
) -> None:
    """The store's work still differs between paths; the desk holds each such answer to the
    policy's steady answer time (measured by bench/verification_timing.py, not here)."""
    desk, _ = counted
    await desk.send(9401, "/password")
    assert (await desk.send(9401, "nobody@nowhere.example")).steady_timing
    assert (await desk.send(9401, "123456")).steady_timing
    await desk.send(9402, "/activate")
    await desk.send(9402, "1001")
    assert (await desk.send(9402, "AAAA-BBBB-CCCC")).steady_timing
    for text in ("/activation", "1001", "3511 AB", "12a"):
        assert not (await desk.send(9403, text)).steady_timing
    assert (await desk.press(9403, pressed(Menu(MenuChoice.SKIP)))).steady_timing
