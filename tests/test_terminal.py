"""The terminal channel, driven through the real `balie` console script's stdin and stdout."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from flows.domain import AuditAction

BALIE = [sys.executable, "-m", "bot"]


def _balie(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "BALIE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'data' / 'balie.sqlite3'}",
        "BALIE_DEFAULT_LANGUAGE": "en",
    }
    for name in ("BALIE_TELEGRAM_TOKEN", "BALIE_SMTP_HOST", "BALIE_TWILIO_ACCOUNT_SID"):
        env.pop(name, None)
    return subprocess.run(
        [*BALIE, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def test_register_restart_and_approve_in_the_terminal(tmp_path: Path) -> None:
    assert _balie(tmp_path, "demo").returncode == 0

    first = _balie(tmp_path, "chat", stdin="1\nDEMO-1234\neva.jansen@kantoor-demo.example\n")
    assert first.returncode == 0, first.stderr
    assert "[1] Register" in first.stdout
    assert "(pressed: Register)" in first.stdout
    assert "e-mail arrived for eva.jansen@kantoor-demo.example" in first.stdout
    code = re.search(r"registering at Demo Wonen is: (\d{6})", first.stdout)
    assert code, first.stdout

    # A new process: the conversation resumes at the code step.
    second = _balie(
        tmp_path, "chat", stdin=f"{code.group(1)}\n/as manager\n1\n/as guest\n/start\n/outbox\n"
    )
    out = second.stdout
    assert second.returncode == 0, second.stderr
    assert "Type the 6-digit code we sent you" in out
    assert "Your request #1 is waiting for approval" in out
    assert "--- message for chat 1001 ---" in out and "New registration #1 at Demo Wonen" in out
    assert "You are now Marieke de Manager (user id 1001)." in out
    assert "(pressed: Approve)" in out
    assert "(#1 Eva Jansen: Approved by Marieke de Manager" in out
    assert "--- chat 1001: message 1 updated ---" in out
    assert "--- e-mail arrived for eva.jansen@kantoor-demo.example ---" in out
    assert "Good news: your registration at Demo Wonen has been approved" in out
    assert "Hello Eva Jansen. You are known at Demo Wonen as employee." in out
    assert re.search(r"email\s+eva.jansen@kantoor-demo.example\s+sent", out)


def test_staff_identities_and_bad_input(tmp_path: Path) -> None:
    _balie(tmp_path, "demo")
    result = _balie(tmp_path, "chat", stdin="/as\n/as nobody\n/nonsense\nhello\n/cancel\n")
    out = result.stdout
    assert "1001: Marieke de Manager, manager at Demo Wonen" in out
    assert "No identity matches 'nobody'" in out
    assert "I don't know that command" in out
    assert "Please choose one of the buttons below" in out
    assert "Nothing is running right now" in out
    assert "Traceback" not in out + result.stderr


def test_actions_in_the_terminal_are_audited_as_the_terminal(tmp_path: Path) -> None:
    """The actor names the channel the action came through, not Telegram."""
    _balie(tmp_path, "demo")
    result = _balie(tmp_path, "chat", stdin="1\nDEMO-1234\neva.jansen@kantoor-demo.example\n")
    assert result.returncode == 0, result.stderr
    with closing(sqlite3.connect(tmp_path / "data" / "balie.sqlite3")) as db:
        rows = db.execute(
            "SELECT actor, channel FROM audit_log WHERE action = ?", (AuditAction.CODE_SENT,)
        ).fetchall()
    assert len(rows) == 1
    [(actor, channel)] = rows
    assert channel == "terminal"
    assert re.fullmatch(r"terminal:\d+", actor), actor
