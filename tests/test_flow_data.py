"""Each flow's data is a dataclass kept as JSON: what an older Balie kept still loads, and
data that does not fit its step starts the conversation over instead of failing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from flows.activation import Identification, Redemption
from flows.domain import AuditAction, ConversationState, DeliveryChannel, Language
from flows.flow_data import StaleFlowData, from_json, to_json
from flows.password_flow import AccountChoice, PasswordChoice, PendingReset
from flows.registration import Draft
from flows.texts import Texts
from tests.support import DeskDriver, seed_customers

USER = 8201
T = Texts(Language.EN)


# -- the codec, without a store --------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        Draft(3),
        Draft(3, "eva@kantoor.example", DeliveryChannel.EMAIL, 17),
        PasswordChoice(5, "reset"),
        PendingReset(DeliveryChannel.SMS, "+31611112222", "+31611112222", None, 2),
        AccountChoice((4, 9)),
        Identification("1001", "3511 AB"),
        Redemption("1001"),
    ],
)
def test_each_flows_data_comes_back_as_it_went_in(data: Any) -> None:
    assert from_json(type(data), to_json(data)) == data


def test_the_json_keys_are_the_ones_kept_before_the_dataclasses() -> None:
    reset = PendingReset(DeliveryChannel.EMAIL, "a@thuis.example", "a@thuis.example", 7)
    assert to_json(reset) == {
        "channel": "email",
        "identifier": "a@thuis.example",
        "destination": "a@thuis.example",
        "code_id": 7,
        "wrong": 0,
    }
    assert to_json(AccountChoice((4, 9))) == {"customer_ids": [4, 9]}
    assert from_json(Identification, {"customer_number": "1001"}) == Identification("1001")
    assert from_json(Draft, {"organization_id": 3, "code_id": None}) == Draft(3)


@dataclass(frozen=True)
class _Sample:
    number: int
    words: tuple[str, ...] = ()


@pytest.mark.parametrize(
    "stored",
    [
        {},
        {"number": "3"},
        {"number": True},
        {"number": None},
        {"number": 3, "words": "not a list"},
        {"number": 3, "words": [1]},
    ],
)
def test_data_that_does_not_fit_is_stale(stored: dict[str, Any]) -> None:
    with pytest.raises(StaleFlowData):
        from_json(_Sample, stored)


def test_an_unknown_channel_is_stale() -> None:
    with pytest.raises(StaleFlowData):
        from_json(Draft, {"organization_id": 3, "channel": "pigeon"})


# -- conversations kept in the store ---------------------------------------------------------


@pytest.fixture
async def customers(desk: DeskDriver) -> DeskDriver:
    await seed_customers(desk.store, desk.clock)
    return desk


async def _keep(desk: DeskDriver, state: ConversationState, data: dict[str, Any]) -> None:
    """The conversation as an earlier run of the desk (or a damaged row) left it."""
    async with desk.store.transaction() as tx:
        conversation = await tx.conversations.load(USER, desk.clock.now())
        conversation.state = state
        conversation.data = data


async def _kept(desk: DeskDriver) -> tuple[ConversationState, dict[str, Any]]:
    async with desk.store.transaction() as tx:
        conversation = await tx.conversations.load(USER, desk.clock.now())
        return conversation.state, dict(conversation.data)


async def _customer_id(desk: DeskDriver, number: str) -> int:
    async with desk.store.transaction() as tx:
        return (await tx.customers.with_number(number))[0].id


async def test_a_password_step_kept_in_the_old_shape_goes_on(customers: DeskDriver) -> None:
    customer_id = await _customer_id(customers, "1001")
    await _keep(
        customers,
        ConversationState.CHOOSE_PASSWORD,
        {"customer_id": customer_id, "reason": "reset"},
    )
    outcome = await customers.send(USER, "paarse olifant danst op het dak")
    assert [reply.text for reply in outcome.replies] == [T("password_set")]
    async with customers.store.transaction() as tx:
        [changed] = await tx.audit.entries(AuditAction.PASSWORD_CHANGED)
    assert changed.detail["reason"] == "reset"


async def test_an_activation_step_kept_in_the_old_shape_goes_on(customers: DeskDriver) -> None:
    await _keep(
        customers,
        ConversationState.ACTIVATION_HOUSE_NUMBER,
        {"customer_number": "1001", "postcode": "3511 AB"},
    )
    await customers.send(USER, "12a")
    state, data = await _kept(customers)
    assert state is ConversationState.ACTIVATION_EMAIL
    assert data == {"customer_number": "1001", "postcode": "3511 AB", "house_number": "12a"}


async def test_a_reset_code_step_kept_in_the_old_shape_counts_on(customers: DeskDriver) -> None:
    address = "klant1001@thuis.example"
    old = {"channel": "email", "identifier": address, "destination": address, "code_id": None}
    await _keep(customers, ConversationState.RESET_CODE, {**old, "wrong": 1})
    outcome = await customers.send(USER, "123456")
    assert [reply.text for reply in outcome.replies] == [T("reset_code_wrong", left=3)]
    assert await _kept(customers) == (ConversationState.RESET_CODE, {**old, "wrong": 2})


STALE = [
    (ConversationState.CHOOSE_PASSWORD, {}, "paarse olifant danst op het dak"),
    (ConversationState.CHOOSE_PASSWORD, {"customer_id": "1", "reason": "reset"}, "Zomer2026!"),
    (ConversationState.RESET_CHOOSE_ACCOUNT, {"customer_ids": "1001"}, "/resume"),
    (ConversationState.RESET_CODE, {"identifier": "a@thuis.example"}, "123456"),
    (ConversationState.RESET_CHOOSE_ACCOUNT, {"customer_ids": ["x"]}, "1001"),
    (ConversationState.REGISTER_CONTACT, {"partner": "BLG-1001"}, "eva@kantoor.example"),
    (ConversationState.REGISTER_CODE, {"organization_id": 1}, "123456"),
    (ConversationState.ACTIVATION_POSTCODE, {"customer_number": 1001}, "3511 AB"),
    (ConversationState.ACTIVATION_EMAIL, {"customer_number": "1001"}, "a@thuis.example"),
    (ConversationState.REDEEM_CODE, {}, "ABCD-EFGH-JKLM"),
]


@pytest.mark.parametrize(("state", "stored", "typed"), STALE)
async def test_data_that_no_longer_fits_its_step_starts_over(
    customers: DeskDriver, state: ConversationState, stored: dict[str, Any], typed: str
) -> None:
    await _keep(customers, state, stored)
    outcome = await customers.send(USER, typed)
    texts = [reply.text for reply in outcome.replies]
    assert texts[-1] == T("cancelled") and T("internal_error") not in texts
    assert outcome.replies[-1].buttons, "the main menu comes back"
    assert await _kept(customers) == (ConversationState.IDLE, {})
