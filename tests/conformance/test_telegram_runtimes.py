"""What both Telegram runtimes must do besides the flows: the command menus, the webhook's
secret and its shutdown, the start-up line, and `balie run` choosing the runtime."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.settings import WEBHOOK_SECRET_PATTERN, Runtime
from flows.commands import command_menu
from flows.desk import Desk
from flows.domain import Language, Role
from flows.events import Event, Outcome
from flows.model import HandledUpdate
from handlers import telegram_common
from tests.conformance.harness import Env, T, TelegramDriver, replace_settings, run_runtime
from tests.conformance.scenarios import EVA_EMAIL, MANAGER, ORG, register_by_email
from tests.fakes.bot_api import TEST_TOKEN
from tests.fakes.smtp_server import free_port

RUNTIMES = [Runtime.AIOGRAM, Runtime.PTB]
SECRET = "Balie_webhook-secret_0123456789"
USER = 7101


def _names(commands: list[dict[str, str]]) -> list[str]:
    return [command["command"] for command in commands]


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_command_menus_in_both_languages_and_for_managers(runtime: Runtime, env: Env) -> None:
    driver = TelegramDriver(env, runtime, webhook=False)
    await driver.start()
    await driver.stop()
    tg = env.telegram
    private = {"type": "all_private_chats"}
    for language in Language:
        menu = tg.commands_for(private, language.value)
        assert menu == [
            {"command": name, "description": text} for name, text in command_menu(language)
        ]
    assert tg.commands_for(private) == tg.commands_for(private, "en")  # default: en here
    assert "start" in _names(tg.commands_for(private)) and "pending" not in _names(
        tg.commands_for(private)
    )
    for manager in (5001, 5002):
        scope = {"type": "chat", "chat_id": manager}
        for language in ("nl", "en", ""):
            names = _names(tg.commands_for(scope, language))
            assert {"start", "pending", "approve", "reject", "employees", "offboard"} <= set(names)
        dutch = [(c["command"], c["description"]) for c in tg.commands_for(scope, "nl")]
        assert dutch == command_menu(Language.NL, Role.MANAGER)
    # Desk staff release codes but do not decide registrations.
    desk_menu = _names(tg.commands_for({"type": "chat", "chat_id": 5003}, "en"))
    assert {"codes", "release", "refuse"} <= set(desk_menu) and "approve" not in desk_menu


async def _post(url: str, update: dict[str, object], secret: str | None) -> int:
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    async with ClientSession() as http, http.post(url, json=update, headers=headers) as resp:
        return resp.status


def _start_update(update_id: int) -> dict[str, object]:
    user = {"id": USER, "is_bot": False, "first_name": "Eva", "language_code": "en"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "from": user,
            "chat": {"id": USER, "type": "private", "first_name": "Eva"},
            "date": 1_700_000_000,
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


async def _handled_updates(env: Env) -> int:
    async with env.store.transaction() as tx:
        return int(await tx.session.scalar(select(func.count()).select_from(HandledUpdate)) or 0)


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_webhook_refuses_requests_without_the_secret(
    runtime: Runtime, env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    driver = TelegramDriver(env, runtime, webhook=True)
    driver.settings = replace_settings(driver.settings, webhook_secret=SecretStr(SECRET))
    url = driver.settings.webhook_url
    assert url is not None
    await driver.start()
    try:
        tg = env.telegram
        assert tg.webhook["url"] == url and tg.webhook["secret_token"] == SECRET
        assert set(tg.webhook["allowed_updates"]) == {"message", "callback_query"}

        assert await _post(url, _start_update(900_001), None) == 401
        assert await _post(url, _start_update(900_002), "wrong-secret") == 401
        assert await _post(url, _start_update(900_003), SECRET[:-1]) == 401
        await asyncio.sleep(0.3)
        assert tg.messages.get(USER) is None
        assert await _handled_updates(env) == 0 and await env.conversation(USER) is None

        assert await _post(url, _start_update(900_004), SECRET) == 200
        await tg.wait_for_message(USER, T("welcome"))
        assert await _handled_updates(env) == 1
    finally:
        await driver.stop()
    log = "\n".join(record.getMessage() for record in caplog.records)
    assert SECRET not in log
    name = "python-telegram-bot" if runtime is Runtime.PTB else "aiogram"
    assert f"runtime {name} " in log and f"(webhook {url}, listening on 127.0.0.1:" in log


@pytest.mark.parametrize("webhook", [False, True], ids=["polling", "webhook"])
@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_shutdown_finishes_every_accepted_update(
    runtime: Runtime, webhook: bool, env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle, perform = Desk._handle, telegram_common.perform
    carried_out: list[int | None] = []

    async def slow_handle(self: Desk, event: Event, *args: Any) -> Outcome:
        await asyncio.sleep(0.15)  # one chat's updates queue up behind each other
        return await handle(self, event, *args)

    async def counted_perform(
        event: Event, outcome: Outcome, actions: Any, keeper: Any = None
    ) -> None:
        await perform(event, outcome, actions, keeper)
        carried_out.append(event.update_id)

    monkeypatch.setattr(Desk, "_handle", slow_handle)
    monkeypatch.setattr(telegram_common, "perform", counted_perform)
    driver = TelegramDriver(env, runtime, webhook=webhook)
    driver.settings = replace_settings(driver.settings, webhook_secret=SecretStr(SECRET))
    await driver.start()
    try:
        if webhook:
            assert driver.settings.webhook_url is not None
            statuses = await asyncio.gather(
                *(
                    _post(driver.settings.webhook_url, _start_update(910_000 + n), SECRET)
                    for n in range(5)
                )
            )
            assert statuses == [200] * 5  # Telegram is answered before the work is done
        else:
            for _ in range(5):
                env.telegram.user_sends_text(USER, "/start")
            await env.telegram.wait_until_consumed()  # fetched and confirmed
        assert len(carried_out) < 5
    finally:
        await driver.stop()
    # When the runtime returns, every accepted update has been handled and answered.
    assert len(carried_out) == 5 and len(set(carried_out)) == 5
    assert await _handled_updates(env) == 5
    assert len([m for m in env.telegram.messages[USER] if T("welcome") in (m.text or "")]) == 5


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_a_random_secret_per_start(runtime: Runtime, env: Env) -> None:
    driver = TelegramDriver(env, runtime, webhook=True)
    secrets = []
    for _ in range(2):
        await driver.start()
        secrets.append(env.telegram.webhook["secret_token"])
        await driver.stop()
    assert secrets[0] != secrets[1]
    assert all(WEBHOOK_SECRET_PATTERN.fullmatch(secret) and len(secret) >= 32 for secret in secrets)


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_long_polling_start_up_line(
    runtime: Runtime, env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stop = asyncio.Event()
    stop.set()  # start, and stop at once
    await asyncio.wait_for(run_runtime(runtime, replace_settings(env.settings), stop), 20)
    [line] = [r.getMessage() for r in caplog.records if "Balie starting" in r.getMessage()]
    if runtime is Runtime.PTB:
        import telegram

        assert f"runtime python-telegram-bot {telegram.__version__} (long polling via " in line
    else:
        import aiogram

        assert f"runtime aiogram {aiogram.__version__} (long polling via " in line
    assert TEST_TOKEN not in line


# -- `balie run` in a process of its own --------------------------------------------------


def _balie_env(env: Env, **extra: str) -> dict[str, str]:
    settings = env.settings
    variables = {key: value for key, value in os.environ.items() if not key.startswith("BALIE_")}
    variables.update(
        BALIE_DATABASE_URL=settings.database_url,
        BALIE_TELEGRAM_TOKEN=TEST_TOKEN,
        BALIE_TELEGRAM_API_URL=settings.telegram_api_url,
        BALIE_SMTP_HOST="127.0.0.1",
        BALIE_SMTP_PORT=str(settings.smtp_port),
        BALIE_SMTP_STARTTLS="false",
        BALIE_DEFAULT_LANGUAGE="en",
        BALIE_OUTBOX_POLL_SECONDS="0.1",
        **extra,
    )
    return variables


async def test_balie_run_with_runtime_ptb_serves_the_same_bot(env: Env, tmp_path: Path) -> None:
    """``BALIE_RUNTIME=ptb balie run --webhook URL --host H --port P`` as a process of its own
    (one process only: starting Python with aiogram and PTB takes seconds)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        *["--webhook", url, "--host", "127.0.0.1", "--port", str(port)],
        env=_balie_env(env, BALIE_RUNTIME="ptb"),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    tg = env.telegram
    try:
        tg.user_sends_text(USER, "/start")
        await tg.wait_for_message(USER, T("welcome"), timeout=60)
        assert tg.webhook["url"] == url
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    log = stderr.decode()
    assert process.returncode == 0, log
    assert "runtime python-telegram-bot " in log and f"(webhook {url}, " in log, log
    secret = tg.webhook["secret_token"]
    assert secret and secret not in log + stdout.decode() and TEST_TOKEN not in log
    assert tg.commands_for({"type": "all_private_chats"}, "nl")


async def test_switching_runtimes_keeps_every_open_conversation(env: Env) -> None:
    """aiogram today, python-telegram-bot tomorrow: the conversation, the request and the
    manager's card (its message id is in the store) carry over."""
    first = TelegramDriver(env, Runtime.AIOGRAM, webhook=False)
    await first.start()
    await register_by_email(first, env, USER, EVA_EMAIL)
    card = await first.expect(MANAGER, T("staff_new_request", number=1, org=ORG.name))
    other = 7102
    await first.user_says(other, "/register")
    await first.expect(other, T("ask_partner_id"))
    await first.stop()

    second = TelegramDriver(env, Runtime.PTB, webhook=False)
    await second.start()
    try:
        await second.user_says(other, ORG.partner_id)  # the step it was at, on aiogram
        await second.expect(other, T("ask_contact", org=ORG.name))
        await second.user_presses(MANAGER, T("button_approve"))  # the card aiogram sent
        await second.expect_notice(MANAGER, T("staff_outcome_approved", by="Marieke Manager"))
        decided = await second.expect(MANAGER, lambda seen: seen.edited)
        assert decided.message_id == card.message_id and not decided.buttons
        await second.expect(USER, T("approved_chat", org=ORG.name))
    finally:
        await second.stop()


@pytest.mark.parametrize("webhook", [False, True], ids=["polling", "webhook"])
@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_a_refused_token_stops_the_start(runtime: Runtime, webhook: bool, env: Env) -> None:
    driver = TelegramDriver(env, runtime, webhook=webhook)
    driver.settings = replace_settings(
        driver.settings, telegram_token=SecretStr("999000:AAWrongTokenForBalieTests_0123456789")
    )
    with pytest.raises(Exception, match=r"(?i)unauthorized|invalid|rejected"):
        await driver.start()


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_an_update_answered_but_not_handled_before_a_crash_is_handled_at_start(
    runtime: Runtime, env: Env
) -> None:
    """Telegram never resends an update it got 200 for: the inbox keeps it until handled."""
    update = _start_update(900_100)
    async with env.store.transaction() as tx:  # what a process killed after its 200 leaves
        await tx.inbox.keep(900_100, update, datetime.now(UTC))
    driver = TelegramDriver(env, runtime, webhook=True)
    driver.settings = replace_settings(driver.settings, webhook_secret=SecretStr(SECRET))
    await driver.start()
    try:
        await env.telegram.wait_for_message(USER, T("welcome"))
        for _ in range(100):
            async with env.store.transaction() as tx:
                if not await tx.inbox.waiting():
                    break
            await asyncio.sleep(0.05)
        async with env.store.transaction() as tx:
            assert await tx.inbox.waiting() == []
        assert await _handled_updates(env) == 1
        # Telegram retrying it anyway is answered once, not twice.
        url = driver.settings.webhook_url
        assert url is not None
        assert await _post(url, update, SECRET) == 200
        await asyncio.sleep(0.3)
        assert await _handled_updates(env) == 1
        assert len([m for m in env.telegram.messages[USER] if T("welcome") in (m.text or "")]) == 1
    finally:
        await driver.stop()
