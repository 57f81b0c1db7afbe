"""What operators watch: /healthz, /metrics and one structured log event per step."""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import pytest

from bot.logs import JsonLines
from bot.ops import Heartbeat, Metrics, StepObserver
from bot.settings import Runtime
from flows.ports import StepRecord
from tests.conformance.conftest import env, seeded_store_file  # noqa: F401
from tests.conformance.harness import Env, T, TelegramDriver, replace_settings
from tests.fakes.smtp_server import free_port
from tests.support import TEST_HASHER, FakeClock

USER = 7301


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def register_once(driver: TelegramDriver) -> None:
    await driver.user_says(USER, "/register")
    await driver.expect(USER, T("ask_partner_id"))
    await driver.user_says(USER, "BLG-1001")
    await driver.expect(USER, T("ask_contact", org="BLG Wonen"))


@pytest.mark.parametrize("webhook", [False, True], ids=["polling", "webhook"])
async def test_healthz_and_metrics_answer(env: Env, webhook: bool) -> None:  # noqa: F811
    driver = TelegramDriver(env, Runtime.AIOGRAM, webhook=webhook)
    if webhook:
        base = f"http://127.0.0.1:{driver.settings.webhook_port}"
    else:
        port = free_port()
        driver.settings = replace_settings(driver.settings, metrics_port=port)
        base = f"http://127.0.0.1:{port}"
    await driver.start()
    try:
        env.telegram.flood_next("sendMessage", retry_after=1, count=1)
        await register_once(driver)
        status, body = await get(f"{base}/healthz")
        health = json.loads(body)
        assert status == 200, body
        assert health["store"] == "ok" and health["worker"] == "alive"
        assert isinstance(health["outbox_pending"], int)
        status, metrics = await get(f"{base}/metrics")
        assert status == 200
        assert 'balie_updates_handled_total{flow="registration",outcome="ok"}' in metrics
        assert "balie_step_seconds_bucket" in metrics
        assert 'balie_outbox_depth{state="pending"}' in metrics
        assert "balie_telegram_flood_waits_total 1.0" in metrics
        await driver.user_says(USER, "eva@kantoor.example")  # a code mail goes out
        await env.mails("eva@kantoor.example")
        for _ in range(50):
            _, metrics = await get(f"{base}/metrics")
            if 'balie_outbox_deliveries_total{channel="email",outcome="sent"} 1.0' in metrics:
                break
            await asyncio.sleep(0.05)
        assert 'balie_outbox_deliveries_total{channel="email",outcome="sent"} 1.0' in metrics
    finally:
        await driver.stop()


def test_a_step_is_one_json_event_without_what_was_typed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics()
    observer = StepObserver(metrics, TEST_HASHER)
    with caplog.at_level(logging.INFO, logger="balie.steps"):
        observer.handled(StepRecord(42, 123456789, "password", "reset_code", "ok", 0.0123))
    [record] = caplog.records
    line = JsonLines().format(record)
    event = json.loads(line)
    assert event["update_id"] == 42 and event["flow"] == "password"
    assert event["step"] == "reset_code" and event["outcome"] == "ok"
    assert event["duration_ms"] == 12.3 and event["level"] == "info"
    assert "123456789" not in line and len(event["chat"]) == 12
    assert b'balie_updates_handled_total{flow="password",outcome="ok"} 1.0' in metrics.render()


def test_the_worker_is_stalled_when_it_stops_beating() -> None:
    from datetime import timedelta

    clock = FakeClock()
    heartbeat = Heartbeat(clock)
    assert not heartbeat.alive(timedelta(minutes=2))
    heartbeat.beat()
    clock.advance(minutes=1)
    assert heartbeat.alive(timedelta(minutes=2))
    clock.advance(minutes=2)
    assert not heartbeat.alive(timedelta(minutes=2))


def test_logs_never_hold_a_full_address_or_number() -> None:
    from bot.logs import RedactSecrets

    record = logging.LogRecord(
        "balie.outbox",
        logging.WARNING,
        __file__,
        1,
        "outbox #%d failed: %s",
        (7, "550 5.1.1 <eva.jansen@kantoor.example>: unknown; +31612345678"),
        None,
    )
    assert RedactSecrets(["secret-token-123"]).filter(record)
    message = record.getMessage()
    assert "eva.jansen@kantoor.example" not in message and "e•••@kantoor.example" in message
    assert "+31612345678" not in message and "outbox #7" in message


def test_the_outbox_lease_must_outlast_a_delivery() -> None:
    from bot.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match=r"BALIE_OUTBOX_LEASE must be at least 1\.5 times"):
        load_settings(outbox_lease=20, outbox_delivery_timeout=30)
    settings = load_settings(outbox_lease=15, outbox_delivery_timeout=10)
    assert (settings.outbox_lease, settings.outbox_delivery_timeout) == (15, 10)
