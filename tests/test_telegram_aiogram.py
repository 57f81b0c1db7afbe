"""End to end on Telegram: the real aiogram Dispatcher and Bot over HTTP to a local Bot API
server, mail through a real SMTP server, SMS through the Twilio stand-in, a real SQLite file."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.runtimes import run_aiogram
from bot.settings import Settings
from storage.db import create_engine
from storage.migrate import upgrade
from storage.uow import Store
from tests.fakes.bot_api import TEST_TOKEN, FakeBotApi
from tests.fakes.smtp_server import SmtpServer
from tests.fakes.twilio_api import FakeTwilio
from tests.support import FakeClock, seed_demo

USER = 7001
MANAGER = 5001
SECOND_MANAGER = 5002
FROM_NUMBER = "+3197010203040"


@pytest.fixture
async def telegram() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(token=TEST_TOKEN, max_poll_wait=0.2) as fake:
        yield fake


@pytest.fixture
async def settings(
    tmp_path: Path, telegram: FakeBotApi, smtp: SmtpServer, twilio: FakeTwilio
) -> Settings:
    url = f"sqlite+aiosqlite:///{tmp_path / 'balie.sqlite3'}"
    await upgrade(url)
    store = Store(create_engine(url))
    await seed_demo(store, FakeClock())
    await store.close()
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        telegram_token=TEST_TOKEN,
        telegram_api_url=telegram.base_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_starttls=False,
        smtp_from="Balie <balie@blg.example>",
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_from_number=FROM_NUMBER,
        twilio_api_url=twilio.base_url,
        default_language="en",
        outbox_poll_seconds=0.1,
        # The flows, not the pacing, are under test here (tests/test_telegram_pacing.py):
        # a chat gets its replies at once, still through the paced sender.
        telegram_rate_per_chat=50,
    )


@asynccontextmanager
async def running_bot(settings: Settings) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_aiogram(settings, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def _mail_code(smtp: SmtpServer, address: str, count: int = 1) -> str:
    for _ in range(100):
        messages = smtp.mail.messages_to(address)
        if len(messages) >= count:
            body = messages[-1].get_content()
            match = re.search(r"\b(\d{6})\b", body)
            assert match, body
            return match.group(1)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no mail to {address}")


async def test_user_registers_and_manager_approves_on_telegram(
    settings: Settings, telegram: FakeBotApi, smtp: SmtpServer
) -> None:
    async with running_bot(settings):
        telegram.user_sends_text(USER, "/start", first_name="Eva")
        menu = await telegram.wait_for_message(USER, "Welcome")
        telegram.user_presses_button(USER, menu.message_id, menu.callback_data("Register"))
        await telegram.wait_for_message(USER, "Step 1 of 3")
        telegram.user_sends_text(USER, "BLG-1001")
        await telegram.wait_for_message(USER, "Step 2 of 3")
        telegram.user_sends_text(USER, "eva@kantoor.example")
        await telegram.wait_for_message(USER, "Step 3 of 3")
        code = await _mail_code(smtp, "eva@kantoor.example")
        telegram.user_sends_text(USER, code)
        await telegram.wait_for_message(USER, "Your request #1 is waiting for approval")

        card = await telegram.wait_for_message(MANAGER, "New registration #1 at BLG Wonen")
        assert "Eva Employee" in (card.text or "") and "eva@kantoor.example" in (card.text or "")
        other = await telegram.wait_for_message(SECOND_MANAGER, "New registration #1")
        stale_reject = other.callback_data("Reject")  # signed for the second manager's chat
        telegram.user_presses_button(MANAGER, card.message_id, card.callback_data("Approve"))

        edited = await telegram.wait_for_message(MANAGER, lambda m: m.edited)
        assert edited.message_id == card.message_id
        assert "Approved by Marieke Manager" in (edited.text or "") and not edited.buttons
        other_edit = await telegram.wait_for_message(SECOND_MANAGER, lambda m: m.edited)
        assert other_edit.message_id == other.message_id and not other_edit.buttons
        answer = await telegram.wait_for_call(
            "answerCallbackQuery", lambda p: p.get("callback_query_id") and "text" in p
        )
        assert "Approved by Marieke Manager" in answer["text"]

        await telegram.wait_for_message(USER, "Good news")
        for _ in range(100):
            if len(smtp.mail.messages_to("eva@kantoor.example")) == 2:
                break
            await asyncio.sleep(0.05)
        decision = smtp.mail.messages_to("eva@kantoor.example")[-1]
        assert decision["Subject"] == "Your registration at BLG Wonen"
        assert "approved" in decision.get_content()

        # The stale copy: the second manager presses on their (now edited) card anyway.
        telegram.user_presses_button(SECOND_MANAGER, other.message_id, stale_reject, force=True)
        late = await telegram.wait_for_call("answerCallbackQuery", lambda p: "text" in p)
        assert "already decided: Approved by Marieke Manager" in late["text"]


async def test_sms_code_goes_through_twilio(
    settings: Settings, telegram: FakeBotApi, twilio: FakeTwilio
) -> None:
    async with running_bot(settings):
        telegram.user_sends_text(USER, "/register")
        await telegram.wait_for_message(USER, "Step 1")
        telegram.user_sends_text(USER, "BLG-1001")
        await telegram.wait_for_message(USER, "Step 2")
        telegram.user_sends_text(USER, "06-1234 5678")
        await telegram.wait_for_message(USER, "+31612345678")
        sms = await twilio.wait_for_message("+31612345678")
        assert sms.from_ == FROM_NUMBER
        code = re.search(r"\b(\d{6})\b", sms.body)
        assert code
        telegram.user_sends_text(USER, code.group(1))
        await telegram.wait_for_message(USER, "Your request #1")
        await telegram.wait_for_message(MANAGER, "Piet Pieters")


async def test_restart_resumes_and_answers_messages_sent_while_down(
    settings: Settings, telegram: FakeBotApi
) -> None:
    async with running_bot(settings):
        telegram.user_sends_text(USER, "/register")
        await telegram.wait_for_message(USER, "Step 1")
        telegram.user_sends_text(USER, "BLG-1001")
        await telegram.wait_for_message(USER, "Step 2")

    # The bot is down; the person types on.
    telegram.user_sends_text(USER, "info@kantoor.example")
    await asyncio.sleep(0.3)
    assert telegram.pending_updates

    async with running_bot(settings):
        refusal = await telegram.wait_for_message(USER, "shared address")
        assert "personal" in (refusal.text or "")
        telegram.user_sends_text(USER, "eva@kantoor.example")
        await telegram.wait_for_message(USER, "Step 3 of 3")


async def test_bad_input_on_telegram(settings: Settings, telegram: FakeBotApi) -> None:
    async with running_bot(settings):
        telegram.user_sends_text(USER, "/register")
        step = await telegram.wait_for_message(USER, "Step 1")
        telegram.user_sends_sticker(USER)
        await telegram.wait_for_message(USER, "I can only read text here")
        await telegram.wait_for_message(USER, "partner ID")
        telegram.user_presses_button(USER, step.message_id, "d:1:zzz", force=True)
        tampered = await telegram.wait_for_call("answerCallbackQuery", lambda p: "text" in p)
        assert "no longer works" in tampered["text"]
        telegram.user_sends_contact(USER, "31612345678", contact_user_id=USER)
        await telegram.wait_for_message(USER, "partner ID")  # contact at the wrong step
        telegram.user_sends_text(USER, "/cancel")
        await telegram.wait_for_message(USER, "Stopped")
        # Someone who is no manager tries /pending.
        telegram.user_sends_text(USER, "/pending")
        await telegram.wait_for_message(USER, "Only a manager")
