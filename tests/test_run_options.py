"""`balie run`'s runtime and webhook options: flags, environment, validation, redaction."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot import cli
from bot.settings import Runtime, SettingsError, load_settings
from bot.webhook import webhook_path, with_webhook_secret


def _args(*argv: str) -> argparse.Namespace:
    return cli._parser().parse_args(["run", *argv])


def test_flags_become_settings_and_win_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BALIE_RUNTIME", "aiogram")
    monkeypatch.setenv("BALIE_WEBHOOK_PORT", "9000")
    args = _args("--runtime", "ptb", "--webhook", "https://bot.example/hook", "--host", "::1")
    settings = load_settings(_env_file=None, **cli._run_options(args))
    assert settings.runtime is Runtime.PTB
    assert settings.webhook_url == "https://bot.example/hook"
    assert (settings.webhook_host, settings.webhook_port) == ("::1", 9000)
    assert cli._run_options(cli._parser().parse_args(["chat"])) == {}


def test_defaults_are_aiogram_and_long_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BALIE_RUNTIME", "BALIE_WEBHOOK_URL", "BALIE_WEBHOOK_HOST", "BALIE_WEBHOOK_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(_env_file=None, **cli._run_options(_args()))
    assert settings.runtime is Runtime.AIOGRAM and settings.webhook_url is None
    assert (settings.webhook_host, settings.webhook_port) == ("0.0.0.0", 8080)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BALIE_WEBHOOK_SECRET", "has space"),
        ("BALIE_WEBHOOK_SECRET", "x" * 257),
        ("BALIE_WEBHOOK_SECRET", "dot.ted"),
        ("BALIE_WEBHOOK_URL", "bot.example/hook"),
        ("BALIE_WEBHOOK_PORT", "0"),
        ("BALIE_RUNTIME", "telethon"),
    ],
)
def test_malformed_settings_are_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings(_env_file=None)


def test_the_secret_alphabet_and_an_empty_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BALIE_WEBHOOK_SECRET", "Aa0_-" * 51 + "z")
    assert load_settings(_env_file=None).webhook_secret is not None
    monkeypatch.setenv("BALIE_WEBHOOK_SECRET", "")
    assert load_settings(_env_file=None).webhook_secret is None  # a random one per start


def test_a_random_secret_only_when_none_is_set() -> None:
    settings = load_settings(_env_file=None, webhook_url="https://bot.example/hook")
    first, second = with_webhook_secret(settings), with_webhook_secret(settings)
    assert first.webhook_secret is not None and second.webhook_secret is not None
    assert first.webhook_secret.get_secret_value() != second.webhook_secret.get_secret_value()
    fixed = settings.model_copy(update={"webhook_secret": SecretStr("mine")})
    assert with_webhook_secret(fixed).webhook_secret == SecretStr("mine")


def test_webhook_path() -> None:
    assert webhook_path("https://bot.example/balie/hook?x=1") == "/balie/hook"
    assert webhook_path("https://bot.example") == "/"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "8443"], "--host and --port are for webhook mode"),
        (["--webhook", "https://bot.example/hook"], "webhook mode needs BALIE_TELEGRAM_TOKEN"),
        (["--webhook", "ftp://bot.example"], "BALIE_WEBHOOK_URL is invalid"),
    ],
)
def test_run_refuses_webhook_options_that_cannot_work(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.delenv("BALIE_TELEGRAM_TOKEN", raising=False)
    monkeypatch.delenv("BALIE_WEBHOOK_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env file
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_runtime_flag_choices() -> None:
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["run", "--runtime", "telethon"])


def test_workers_flag_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BALIE_WORKERS", "3")
    assert load_settings(_env_file=None).workers == 3
    args = _args("--webhook", "https://bot.example/hook", "--workers", "4")
    assert load_settings(_env_file=None, **cli._run_options(args)).workers == 4
    monkeypatch.delenv("BALIE_WORKERS")
    assert load_settings(_env_file=None).workers == 1
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["run", "--workers", "0"])


@pytest.mark.parametrize(
    ("database_url", "argv", "message"),
    [
        (
            "sqlite+aiosqlite:///./data/balie.sqlite3",
            ["--webhook", "https://bot.example/hook", "--workers", "2"],
            "--workers needs PostgreSQL: SQLite is one process by design",
        ),
        (
            "postgresql+asyncpg://balie@db.example/balie",
            ["--workers", "2"],
            "--workers is for webhook mode",
        ),
    ],
)
def test_run_refuses_workers_where_they_cannot_share_the_work(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    database_url: str,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("BALIE_TELEGRAM_TOKEN", "123456:workers")
    monkeypatch.setenv("BALIE_DATABASE_URL", database_url)
    monkeypatch.delenv("BALIE_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("BALIE_WORKERS", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env file
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", *argv])
    assert exit_info.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert message in line
