"""Issue 11's invitation by deep link, end to end: ``balie invite`` (one getMe for the bot's
username), the mail at aiosmtpd with the link and its QR code (decoded with zxing-cpp),
``/start <token>`` through the real aiogram client against the local Bot API server, the
password then valid in the built-in directory, and a second use refused."""

from __future__ import annotations

import asyncio
import io
import os
import re
from email.message import EmailMessage
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from bot import cli
from bot.settings import Settings
from flows.builtin_directory import PasswordVerifier
from flows.model import Invitation
from storage.db import create_engine
from storage.uow import Store
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.smtp_server import SmtpServer
from tests.test_telegram_aiogram import running_bot, settings, telegram  # noqa: F401

INVITEE = 8301
STRANGER = 8302
ADDRESS = "nina@kantoor.example"
LINK = re.compile(r"https://t\.me/balie_test_bot\?start=[A-Za-z0-9_-]{43}")


async def _mail(smtp: SmtpServer, address: str, count: int) -> EmailMessage:
    for _ in range(200):
        messages = smtp.mail.messages_to(address)
        if len(messages) >= count:
            return messages[count - 1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no mail number {count} to {address}")


def _decoded_qr(message: EmailMessage) -> list[str]:
    images = [part for part in message.iter_attachments() if part.get_content_type() == "image/png"]
    assert len(images) == 1, [part.get_content_type() for part in message.iter_attachments()]
    image = Image.open(io.BytesIO(images[0].get_content())).convert("L")
    return [result.text for result in zxingcpp.read_barcodes(image)]


def _invite_in_cli(monkeypatch: pytest.MonkeyPatch, settings: Settings, *extra: str) -> None:  # noqa: F811
    monkeypatch.setenv("BALIE_DATABASE_URL", settings.database_url)
    assert settings.telegram_token is not None
    monkeypatch.setenv("BALIE_TELEGRAM_TOKEN", settings.telegram_token.get_secret_value())
    monkeypatch.setenv("BALIE_TELEGRAM_API_URL", settings.telegram_api_url)
    cli.main(["invite", "--org", "BLG-1001", "--email", ADDRESS, *extra])


async def test_invitation_by_deep_link_on_telegram(
    settings: Settings,  # noqa: F811
    telegram: FakeBotApi,  # noqa: F811
    smtp: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    await asyncio.to_thread(_invite_in_cli, monkeypatch, settings, "--name", "Nina Nieuw")
    printed = capsys.readouterr().out
    assert printed.startswith("invited Nina Nieuw <nina@kantoor.example> to BLG Wonen")
    assert "/start" not in printed and len(printed.strip().splitlines()) == 1  # no token shown

    async with running_bot(settings):
        invitation = await _mail(smtp, ADDRESS, 1)
        body = str(invitation.get_body(("plain",)).get_content())  # type: ignore[union-attr]
        found = LINK.search(body)
        assert found, body
        link = found.group(0)
        assert _decoded_qr(invitation) == [link]
        token = link.rsplit("=", 1)[1]

        telegram.user_sends_text(INVITEE, f"/start {token}", first_name="Nina")
        await telegram.wait_for_message(INVITEE, "Welcome, Nina Nieuw")
        await telegram.wait_for_message(INVITEE, "Type your new password")
        secret = telegram.user_sends_text(INVITEE, "groene fiets in de gracht")
        await telegram.wait_for_message(INVITEE, "password")
        await telegram.wait_for_call(
            "deleteMessage", lambda p: int(p["message_id"]) == secret["message"]["message_id"]
        )
        confirmation = await _mail(smtp, ADDRESS, 2)
        assert "was changed" in str(confirmation.get_content())

        telegram.user_sends_text(STRANGER, f"/start {token}")
        await telegram.wait_for_message(STRANGER, "cannot be used")
        await telegram.wait_for_message(STRANGER, "Welcome to the desk")

    store = Store(create_engine(settings.database_url))
    try:
        async with store.transaction() as tx:
            organization = await tx.organizations.by_partner_id("BLG-1001")
            assert organization is not None
            verdict = await PasswordVerifier().verify(
                tx,
                organization,
                ADDRESS,
                "groene fiets in de gracht",
                organization.created_at.date(),
            )
            assert verdict.valid
            (row,) = (await tx.session.scalars(select(Invitation))).all()
            assert row.opened_at is not None and row.confirmed_at is not None
            assert token not in row.token_hash
    finally:
        await store.close()


def test_balie_invite_without_a_telegram_token_prints_the_start_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [n for n in os.environ if n.startswith("BALIE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BALIE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'b.sqlite3'}")
    cli.main(["org", "add", "BLG Wonen", "--partner-id", "BLG-1001"])
    capsys.readouterr()
    cli.main(["invite", "--org", "BLG-1001", "--email", ADDRESS])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("invited nina <nina@kantoor.example> to BLG Wonen")
    assert re.fullmatch(
        r"no Telegram token: in `balie chat`, type /start [A-Za-z0-9_-]{43}", lines[1]
    )
    with pytest.raises(SystemExit):
        cli.main(["invite", "--org", "BLG-1001", "--email", "info@kantoor.example"])
    assert "shared address" in capsys.readouterr().err
    cli.main(["invite", "--org", "BLG-1001", "--email", ADDRESS, "--withdraw"])
    assert capsys.readouterr().out.startswith("withdrew the invitation of nina")
