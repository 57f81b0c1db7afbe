"""Nothing secret at rest (issue 9, point 6), end to end through the webhook runtimes.

Each flow that asks for a code or a password runs on aiogram and python-telegram-bot in
webhook mode (every update is kept in the store's inbox before it is answered 200). Every
text typed while the conversation was at a code or password step is recorded; afterwards
the SQLite file, its WAL and the captured logs hold none of them, the handled updates have
left the inbox, and the store's files are 0600 in a 0700 folder. A code mailed or texted is
sealed in the outbox until it is delivered, so it is not in the WAL while running either.
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from flows.desk import SECRET_STEPS
from flows.model import InboxUpdate
from tests.conformance.harness import Channel, Env, Match, Seen
from tests.conformance.scenarios import (
    activation_code_by_email_then_password,
    forgotten_password_reset_by_sms,
    registration_by_email_approved_by_button,
)

FLOWS = {
    "registration_with_code": registration_by_email_approved_by_button,
    "activation_code_and_password": activation_code_by_email_then_password,
    "reset_with_code": forgotten_password_reset_by_sms,
}


class Recording:
    """A channel that notes every text typed at a code or password step."""

    def __init__(self, channel: Channel, env: Env) -> None:
        self._channel = channel
        self._env = env
        self.name = channel.name
        self.capabilities = channel.capabilities
        self.secrets: list[str] = []

    async def user_says(self, user: int, text: str) -> None:
        conversation = await self._env.conversation(user)
        if conversation is not None and conversation.state in SECRET_STEPS:
            self.secrets.append(text)
        await self._channel.user_says(user, text)

    async def expect(self, user: int, match: Match, timeout: float = 5.0) -> Seen:  # noqa: ASYNC109
        return await self._channel.expect(user, match, timeout)

    def __getattr__(self, name: str) -> object:
        return getattr(self._channel, name)


def _store_files(env: Env) -> list[Path]:
    database = Path(make_url(env.settings.database_url).database or "")
    return [database, database.with_name(database.name + "-wal")]


def _read(*paths: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in paths if path.exists()}


@pytest.mark.parametrize("flow", list(FLOWS))
@pytest.mark.parametrize("channel", ["aiogram-webhook", "ptb-webhook"], indirect=True)
async def test_no_typed_secret_in_the_store_its_wal_or_the_logs(
    flow: str, channel: Channel, env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    recording = Recording(channel, env)
    await FLOWS[flow](recording, env)  # type: ignore[arg-type]
    secrets = recording.secrets
    assert secrets, "the flow typed no code or password"
    database, wal = _store_files(env)
    running = _read(database, wal)  # while running: the WAL holds every recent page
    assert wal.name in running
    await channel.stop()  # every accepted update handled, the worker stopped
    async with env.store.transaction() as tx:
        assert await tx.session.scalar(select(func.count()).select_from(InboxUpdate)) == 0
    await env.store.close()
    stopped = _read(database, wal)

    logs = caplog.text + "\n".join(str(record.args) for record in caplog.records)
    for secret in secrets:
        for when, contents in (("running", running), ("stopped", stopped)):
            for name, data in contents.items():
                assert secret.encode() not in data, f"{secret!r} is in {name} ({when})"
        assert secret not in logs, f"{secret!r} is in the logs"

    for path in (database, wal):
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.parametrize("channel", ["aiogram-webhook"], indirect=True)
async def test_no_mailed_code_in_the_wal_while_running(channel: Channel, env: Env) -> None:
    recording = Recording(channel, env)
    await registration_by_email_approved_by_button(recording, env)  # type: ignore[arg-type]
    database, wal = _store_files(env)
    running = _read(database, wal)
    assert wal.name in running
    mailed = _mailed(env)
    assert recording.secrets and all(secret in mailed for secret in recording.secrets)
    for secret in recording.secrets:  # went through the outbox, sealed until it was sent
        for name, data in running.items():
            assert secret.encode() not in data, f"{secret!r} is in {name}"


def _mailed(env: Env) -> str:
    """Every code the desk sent by mail or SMS, as sent."""
    mails = b"\n".join(
        envelope.content
        for envelope in env.smtp.mail.envelopes
        if isinstance(envelope.content, bytes)
    )
    return mails.decode(errors="replace") + "\n".join(sms.body for sms in env.twilio.messages)
