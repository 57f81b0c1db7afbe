"""Two-step verification on every channel (issue 13 point 1): turned on with an
authenticator app (the QR code is the ``otpauth://`` URI), confirmed with a recovery code,
then a recovery code used to make new ones, which are hidden from the chat once written
down."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import zxingcpp
from PIL import Image
from sqlalchemy import select

from bot.sealing import outbox_sealer
from flows import totp
from flows.model import SecondFactor
from storage.sealing import open_text
from tests.conformance.harness import Channel, Env, T
from tests.conformance.scenarios import DESK_STAFF, ORG, scenario

STAFF_EMAIL = "sanne@blg.example"
_RECOVERY = re.compile(r"\b[A-Z2-9]{5}-[A-Z2-9]{5}\b")


async def _app_secret(env: Env, owner_key: str) -> str:
    """The authenticator's secret, as the app got it: sealed in the store under the
    server's key, opened here with that key."""
    async with env.store.transaction() as tx:
        rows = (await tx.session.scalars(select(SecondFactor))).all()
    row = next(r for r in rows if r.owner_key.rstrip("?") == owner_key)
    assert row.totp_secret is not None and row.totp_secret.startswith("sealed:v1:")
    return open_text(outbox_sealer(env.hasher), row.totp_secret)


def _code_now(secret: str) -> str:
    return totp.code_at(secret, totp.step_at(datetime.now(UTC)))


@scenario()
async def two_step_by_app_and_a_recovery_code(channel: Channel, env: Env) -> None:
    user = DESK_STAFF
    owner = f"p{(await env.person(email=STAFF_EMAIL)).id}"
    await channel.user_says(user, "/security")
    status = await channel.expect(user, T("two_step_status_off"))
    assert T("button_two_step_app") in status.buttons
    await channel.user_presses(user, T("button_two_step_app"))
    await channel.expect(user, T("two_step_app_scan"))
    secret = await _app_secret(env, owner)
    if channel.name != "terminal":  # a photo of the QR code before the text
        photo = env.telegram.photos(user)[-1]
        uri = zxingcpp.read_barcodes(Image.open(io.BytesIO(photo)))[0].text
        assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
        assert "issuer=BLG%20Wonen" in uri

    await channel.user_says(user, _code_now(secret))
    await channel.expect_removed(user)
    shown = await channel.expect(user, T("two_step_recovery_codes"))
    codes = _RECOVERY.findall(shown.text)
    assert len(codes) == 10
    await channel.expect(user, T("two_step_recovery_type_one"))
    await channel.user_says(user, codes[0])
    await channel.expect_removed(user)
    await channel.expect(user, T("two_step_on"))
    notice = (await env.mails(STAFF_EMAIL))[-1]
    assert notice["Subject"] == T("notice_two_step_subject", org=ORG.name)

    await channel.user_says(user, "/security")
    await channel.expect(user, T("two_step_status_on", method=T("two_step_method_app"), left=10))
    await channel.user_presses(user, T("button_two_step_new_codes"))
    await channel.expect(user, T("second_factor_ask_app"))
    await channel.user_says(user, codes[4])
    await channel.expect_removed(user)
    await channel.expect(user, T("second_factor_recovery_left", left=9))
    renewed = await channel.expect(user, T("two_step_recovery_codes"))
    assert not set(_RECOVERY.findall(renewed.text)) & set(codes)
    await channel.expect(user, T("two_step_new_codes_done"))
    # Written down, the codes leave the chat (Telegram: that message edited; the terminal
    # can only say so anew).
    await channel.user_presses(user, T("button_two_step_hide_codes"))
    hidden = await channel.expect(user, T("two_step_recovery_codes_hidden"))
    assert not hidden.buttons and not _RECOVERY.findall(hidden.text)
    if channel.name != "terminal":
        assert hidden.edited and hidden.message_id == renewed.message_id
