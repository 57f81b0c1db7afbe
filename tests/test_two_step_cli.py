"""``balie org set PID --require-2fa staff|none`` and ``BALIE_STAFF_STEP_UP_IDLE``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings
from tests.test_cli import balie


def test_require_two_step_of_staff_in_the_cli(tmp_path: Path) -> None:
    assert balie(tmp_path, "db", "upgrade").code == 0
    assert balie(tmp_path, "org", "add", "BLG Wonen", "--partner-id", "BLG-1001").code == 0
    required = balie(tmp_path, "org", "set", "BLG-1001", "--require-2fa", "staff")
    assert required.code == 0, required.stderr
    assert "two-step required of: staff" in required.stdout
    other = balie(tmp_path, "org", "set", "BLG-1001", "--desk-contact", "030 123 4567")
    assert "two-step required of: staff" in other.stdout  # unchanged by other settings
    optional = balie(tmp_path, "org", "set", "BLG-1001", "--require-2fa", "none")
    assert "two-step required of: none" in optional.stdout
    wrong = balie(tmp_path, "org", "set", "BLG-1001", "--require-2fa", "everyone")
    assert wrong.code == 2 and "--require-2fa" in wrong.stderr


def test_the_staff_step_up_idle_time_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BALIE_STAFF_STEP_UP_IDLE", raising=False)
    assert Settings().staff_step_up_idle == timedelta(hours=12)
    monkeypatch.setenv("BALIE_STAFF_STEP_UP_IDLE", "PT2H")
    assert Settings().staff_step_up_idle == timedelta(hours=2)
    monkeypatch.setenv("BALIE_STAFF_STEP_UP_IDLE", "5")
    with pytest.raises(ValidationError):
        Settings()
