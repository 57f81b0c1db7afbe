"""Every scenario on every channel: aiogram and python-telegram-bot over HTTP to the local Bot
API server, each with long polling and with a webhook the server posts to, and the terminal."""

from __future__ import annotations

import pytest

from tests.conformance.harness import CHANNELS, Channel, Env
from tests.conformance.scenarios import SCENARIOS, Scenario

CASES = [
    pytest.param(
        scenario,
        channel,
        id=f"{scenario.name}[{channel}]",
    )
    for scenario in SCENARIOS
    for channel in CHANNELS
]


@pytest.mark.parametrize(("scenario", "channel"), CASES, indirect=["channel"])
async def test_scenario(scenario: Scenario, channel: Channel, env: Env) -> None:
    await scenario.script(channel, env)
