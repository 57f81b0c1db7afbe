"""The HTTP fakes work with the real client libraries (aiogram, python-telegram-bot, twilio)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramConflictError, TelegramForbiddenError
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes, MessageHandler, filters
from twilio.base.exceptions import TwilioRestException

from tests.fakes.bot_api import TEST_TOKEN, FakeBotApi
from tests.fakes.twilio_api import FakeTwilio, twilio_client_for

USER = 4242


@pytest.fixture
async def tg() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        yield fake


@pytest.fixture
async def aiogram_bot(tg: FakeBotApi) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
    bot = Bot(TEST_TOKEN, session=session)
    yield bot
    await bot.session.close()


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


def yes_no() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text="Yes", callback_data="answer:yes"),
                InlineKeyboardButton(text="No", callback_data="answer:no"),
            ]
        ]
    )


async def stop_aiogram_polling(dp: Dispatcher, task: asyncio.Task[None]) -> None:
    try:
        await dp.stop_polling()
    except RuntimeError:  # polling never got as far as starting
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


# ---------------------------------------------------------------------- aiogram


async def test_aiogram_bot_methods(tg: FakeBotApi, aiogram_bot: Bot) -> None:
    me = await aiogram_bot.get_me()
    assert (me.id, me.is_bot, me.first_name, me.username) == (
        999000,
        True,
        "Balie",
        "balie_test_bot",
    )

    sent = await aiogram_bot.send_message(USER, "Hello <b>there</b>", reply_markup=yes_no())
    assert sent.message_id == 1
    assert sent.chat.id == USER
    assert sent.from_user is not None and sent.from_user.id == 999000
    assert sent.reply_markup is not None
    assert sent.reply_markup.inline_keyboard[0][1].callback_data == "answer:no"
    record = tg.messages[USER][0]
    assert record.text == "Hello <b>there</b>"
    assert record.callback_data("Yes") == "answer:yes"
    assert tg.calls[-1][0] == "sendMessage"
    assert tg.calls[-1][1]["chat_id"] == USER  # decoded from the form string

    edited = await aiogram_bot.edit_message_text(
        "Thanks", chat_id=USER, message_id=sent.message_id, reply_markup=yes_no()
    )
    assert isinstance(edited, Message) and edited.text == "Thanks"
    assert record.edited and record.text == "Thanks" and record.inline_keyboard
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await aiogram_bot.edit_message_text(
            "Thanks", chat_id=USER, message_id=sent.message_id, reply_markup=yes_no()
        )
    # Like Telegram: editing the text without reply_markup drops the inline keyboard.
    await aiogram_bot.edit_message_text("Done", chat_id=USER, message_id=sent.message_id)
    assert record.reply_markup is None
    # ... and clearing the buttons of a message that has none changes nothing.
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await aiogram_bot.edit_message_reply_markup(
            chat_id=USER, message_id=sent.message_id, reply_markup=None
        )
    assert [m for m, _ in tg.not_modified_calls()] == ["editMessageText", "editMessageReplyMarkup"]
    await aiogram_bot.edit_message_reply_markup(
        chat_id=USER, message_id=sent.message_id, reply_markup=yes_no()
    )
    assert record.inline_keyboard

    assert await aiogram_bot.delete_message(USER, sent.message_id) is True
    assert record.deleted
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await aiogram_bot.delete_message(USER, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await aiogram_bot.edit_message_text("x", chat_id=USER, message_id=sent.message_id)

    second = await aiogram_bot.send_message(USER, "again")
    assert second.message_id == 2  # per-chat counter

    # Reply keyboards are stored on the record but, as in Telegram, not echoed in the Message.
    contact_kb = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="Share phone", request_contact=True)]],
        resize_keyboard=True,
    )
    asked = await aiogram_bot.send_message(USER, "Your phone?", reply_markup=contact_kb)
    assert asked.reply_markup is None
    assert tg.messages[USER][-1].button("Share phone")["request_contact"] is True

    assert await aiogram_bot.send_chat_action(USER, "typing")
    assert tg.chat_actions == [(USER, "typing")]


async def test_aiogram_validation_errors(tg: FakeBotApi, aiogram_bot: Bot) -> None:
    too_long = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="d" * 65)]]
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await aiogram_bot.send_message(USER, "hi", reply_markup=too_long)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await aiogram_bot.send_message(USER, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await aiogram_bot.send_message(USER, "Name: <Jan>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match=r"Character '\.' is reserved"):
        await aiogram_bot.send_message(USER, "Welcome back.", parse_mode="MarkdownV2")
    await aiogram_bot.send_message(
        USER, "Welcome back\\. [site](https://x.y/z)", parse_mode="MarkdownV2"
    )
    await aiogram_bot.send_message(USER, "a &lt; b <i>ok</i>", parse_mode="HTML")
    assert [r.message_id for r in tg.messages[USER]] == [1, 2]

    tg.user_blocks_bot(USER)
    with pytest.raises(TelegramForbiddenError, match="blocked"):
        await aiogram_bot.send_message(USER, "anyone there?")

    tg.fail_next("getMe", error_code=409, description="Conflict: simulated")
    with pytest.raises(TelegramConflictError):
        await aiogram_bot.get_me()
    assert (await aiogram_bot.get_me()).id == 999000


async def test_aiogram_commands_and_webhook_state(tg: FakeBotApi, aiogram_bot: Bot) -> None:
    await aiogram_bot.set_my_commands([BotCommand(command="start", description="Start")])
    await aiogram_bot.set_my_commands(
        [BotCommand(command="start", description="Begin")], language_code="nl"
    )
    scope = BotCommandScopeChat(chat_id=USER)
    await aiogram_bot.set_my_commands([BotCommand(command="admin", description="A")], scope=scope)
    assert [c.description for c in await aiogram_bot.get_my_commands()] == ["Start"]
    assert [c.description for c in await aiogram_bot.get_my_commands(language_code="nl")] == [
        "Begin"
    ]
    assert tg.commands_for({"type": "chat", "chat_id": USER}) == [
        {"command": "admin", "description": "A"}
    ]
    await aiogram_bot.delete_my_commands(language_code="nl")
    assert await aiogram_bot.get_my_commands(language_code="nl") == []

    assert await aiogram_bot.set_webhook("https://example.invalid/hook", secret_token="s3")
    info = await aiogram_bot.get_webhook_info()
    assert info.url == "https://example.invalid/hook"
    assert tg.webhook["secret_token"] == "s3" and tg.deliver_via_webhook
    with pytest.raises(TelegramConflictError):
        await aiogram_bot.get_updates()
    assert await aiogram_bot.delete_webhook(drop_pending_updates=True)
    assert (await aiogram_bot.get_webhook_info()).url == ""
    assert await aiogram_bot.get_updates(timeout=0) == []


async def test_aiogram_polling_round_trip(tg: FakeBotApi, aiogram_bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message(CommandStart())
    async def on_start(message: Message) -> None:
        await message.answer("Welcome! Register?", reply_markup=yes_no())

    @dp.message(F.contact)
    async def on_contact(message: Message) -> None:
        assert message.contact is not None
        await message.answer(f"phone {message.contact.phone_number}")

    @dp.message(F.text)
    async def on_text(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    @dp.callback_query(F.data.startswith("answer:"))
    async def on_answer(query: CallbackQuery) -> None:
        await query.answer("noted")
        assert isinstance(query.message, Message)
        await query.message.edit_text(f"You chose {query.data}")

    polling = asyncio.create_task(dp.start_polling(aiogram_bot, handle_signals=False))
    try:
        tg.user_sends_text(USER, "/start", first_name="Anna", language_code="nl")
        welcome = await tg.wait_for_message(USER)
        assert welcome.text == "Welcome! Register?"

        tg.user_sends_sticker(USER)  # no handler: ignored
        tg.user_sends_text(USER, "hello")
        assert (await tg.wait_for_message(USER)).text == "echo: hello"

        tg.user_sends_contact(USER, "+31612345678")
        assert (await tg.wait_for_message(USER)).text == "phone +31612345678"

        update = tg.user_presses_button(USER, welcome.message_id, "answer:yes")
        edited = await tg.wait_for_message(USER, lambda r: r.edited)
        assert edited.message_id == welcome.message_id
        assert edited.text == "You chose answer:yes"
        assert edited.reply_markup is None
        answer = await tg.wait_for_call("answerCallbackQuery")
        assert answer["callback_query_id"] == update["callback_query"]["id"]
        assert answer["text"] == "noted"
        with pytest.raises(LookupError):
            tg.user_presses_button(USER, welcome.message_id, "answer:no")  # keyboard is gone
        await tg.assert_no_message(USER, within=0.2)
    finally:
        await stop_aiogram_polling(dp, polling)
    get_updates = [params for method, params in tg.calls if method == "getUpdates"]
    assert sorted(get_updates[0]["allowed_updates"]) == ["callback_query", "message"]


async def test_aiogram_webhook_delivery_and_reply_in_response(
    tg: FakeBotApi, aiogram_bot: Bot
) -> None:
    dp = Dispatcher()

    @dp.message(F.text)
    async def on_text(message: Message) -> object:
        return message.answer(f"via webhook: {message.text}")  # executed by "Telegram"

    app = aiohttp.web.Application()
    # handle_in_background=False: aiogram answers the webhook POST with the method (multipart),
    # which "Telegram" (the fake) then executes.
    SimpleRequestHandler(
        dispatcher=dp, bot=aiogram_bot, secret_token="s3cret", handle_in_background=False
    ).register(app, path="/tg")
    runner = aiohttp.web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await aiogram_bot.set_webhook(f"http://127.0.0.1:{port}/tg", secret_token="wrong")
        tg.user_sends_text(USER, "first")
        await tg.wait_until(lambda: tg.webhook_deliveries)
        assert tg.webhook_deliveries[0][1] == 401  # aiogram rejects the wrong secret
        info = await aiogram_bot.get_webhook_info()
        assert info.pending_update_count == 1 and "401" in (info.last_error_message or "")
        assert tg.pending_updates  # not dropped while the webhook fails

        await aiogram_bot.set_webhook(f"http://127.0.0.1:{port}/tg", secret_token="s3cret")
        reply = await tg.wait_for_message(USER)
        assert reply.text == "via webhook: first"
        assert [m for m, _ in tg.webhook_replies] == ["sendMessage"]  # multipart reply body
        await tg.wait_until_consumed()
        assert tg.webhook_deliveries[-1][1] == 200
    finally:
        await runner.cleanup()


async def test_raw_http_unknown_method_json_and_query(tg: FakeBotApi) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{tg.base_url}/bot{TEST_TOKEN}/sendUnicorn", json={}) as resp:
            assert resp.status == 404
            assert await resp.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }
        body = {"chat_id": 7, "text": "123", "reply_markup": '{"inline_keyboard": []}'}
        async with http.post(f"{tg.base_url}/bot{TEST_TOKEN}/sendMessage", json=body) as resp:
            payload = await resp.json()
            assert payload["ok"] and payload["result"]["text"] == "123"
        async with http.get(f"{tg.base_url}/bot{TEST_TOKEN}/getMe?x=1") as resp:
            assert (await resp.json())["result"]["username"] == "balie_test_bot"
    assert tg.messages[7][0].text == "123"  # free text is never JSON-decoded
    assert tg.messages[7][0].reply_markup == {"inline_keyboard": []}


async def test_get_updates_offset_and_long_poll(tg: FakeBotApi, aiogram_bot: Bot) -> None:
    tg.max_poll_wait = 0.3
    first = tg.user_sends_text(USER, "one")
    tg.user_sends_text(USER, "two")
    updates = await aiogram_bot.get_updates(timeout=5)
    assert [u.message.text for u in updates if u.message] == ["one", "two"]
    # Not confirmed yet -> delivered again.
    assert len(await aiogram_bot.get_updates(timeout=0)) == 2
    assert len(await aiogram_bot.get_updates(offset=first["update_id"] + 1, timeout=0)) == 1
    last = updates[-1].update_id
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await aiogram_bot.get_updates(offset=last + 1, timeout=30) == []
    assert 0.25 < loop.time() - started < 1  # long poll, capped by max_poll_wait

    async def later() -> None:
        await asyncio.sleep(0.1)
        tg.user_sends_text(USER, "three")

    tg.max_poll_wait = 5
    sender = asyncio.create_task(later())
    woke = await aiogram_bot.get_updates(offset=last + 1, timeout=30)  # wakes up at once
    await sender
    assert [u.message.text for u in woke if u.message] == ["three"]


# ---------------------------------------------------------------------- python-telegram-bot


async def test_ptb_send_and_poll(tg: FakeBotApi) -> None:
    app = (
        Application.builder()
        .token(TEST_TOKEN)
        .base_url(f"{tg.base_url}/bot")
        .base_file_url(f"{tg.base_url}/file/bot")
        .build()
    )

    async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("PTB welcome")

    async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"ptb echo: {update.effective_message.text}")

    app.add_handler(CommandHandler("start", on_start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))

    await app.initialize()
    try:
        assert app.bot.username == "balie_test_bot"
        direct = await app.bot.send_message(USER, "direct", reply_markup=None)
        assert direct.message_id == 1 and tg.messages[USER][0].text == "direct"
        assert (await tg.wait_for_message(USER)).text == "direct"

        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        tg.user_sends_text(USER, "/start")
        assert (await tg.wait_for_message(USER)).text == "PTB welcome"
        tg.user_sends_text(USER, "hoi")
        assert (await tg.wait_for_message(USER)).text == "ptb echo: hoi"
    finally:
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
    assert tg.pending_updates == []  # PTB confirms the last offset when stopping
    assert "deleteWebhook" in [method for method, _ in tg.calls]  # start_polling bootstraps


# ---------------------------------------------------------------------- twilio


async def test_twilio_sends_sms(twilio: FakeTwilio) -> None:
    client = twilio_client_for(twilio.base_url, twilio.account_sid, twilio.auth_token)
    try:
        message = await client.messages.create_async(
            to="+31612345678", from_="+15005550006", body="Your code is 123456"
        )
        assert message.sid.startswith("SM") and len(message.sid) == 34
        assert message.status == "queued"
        assert message.to == "+31612345678" and message.from_ == "+15005550006"
        assert message.account_sid == twilio.account_sid
        assert message.date_created is not None
        received = await twilio.wait_for_message("+31612345678")
        assert received.body == "Your code is 123456" and received.sid == message.sid

        fetched = await client.messages(message.sid).fetch_async()
        assert fetched.body == "Your code is 123456"

        with pytest.raises(TwilioRestException) as bad_number:
            await client.messages.create_async(to="0612345678", from_="+15005550006", body="x")
        assert bad_number.value.status == 400 and bad_number.value.code == 21211

        twilio.fail_next(1, status=503)
        with pytest.raises(TwilioRestException) as outage:
            await client.messages.create_async(to="+31612345678", from_="+1500", body="again")
        assert outage.value.status == 503
        await client.messages.create_async(to="+31612345678", from_="+1500", body="again")
        assert (await twilio.wait_for_message("+31612345678")).body == "again"
        assert [status for *_, status in twilio.requests] == [201, 200, 400, 503, 201]
    finally:
        await client.http_client.close()


async def test_twilio_wrong_auth(twilio: FakeTwilio) -> None:
    client = twilio_client_for(twilio.base_url, twilio.account_sid, "not-the-token")
    try:
        with pytest.raises(TwilioRestException) as excinfo:
            await client.messages.create_async(to="+31612345678", from_="+15005550006", body="x")
    finally:
        await client.http_client.close()
    assert excinfo.value.status == 401
    assert excinfo.value.code == 20003
    assert twilio.messages == []
