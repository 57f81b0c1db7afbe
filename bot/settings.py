"""Configuration from the environment (prefix ``BALIE_``) and an optional ``.env`` file."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from flows.domain import Language

DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
DEFAULT_TWILIO_API_URL = "https://api.twilio.com"


class Runtime(StrEnum):
    AIOGRAM = "aiogram"
    PTB = "ptb"


class Settings(BaseSettings):
    """Everything Balie reads from its environment; secrets are ``SecretStr``, never printed."""

    model_config = SettingsConfigDict(
        env_prefix="BALIE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = "sqlite+aiosqlite:///./data/balie.sqlite3"
    telegram_token: SecretStr | None = None
    telegram_api_url: str = DEFAULT_TELEGRAM_API_URL
    runtime: Runtime = Runtime.AIOGRAM

    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_from: str = "Balie <balie@localhost>"

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    twilio_api_url: str = DEFAULT_TWILIO_API_URL

    default_language: Language = Language.NL
    outbox_poll_seconds: float = Field(default=1.0, gt=0)

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: str) -> str:
        url = make_url(value)
        if url.drivername not in {"sqlite+aiosqlite", "postgresql+asyncpg"}:
            raise ValueError("use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB")
        return value

    @field_validator("telegram_api_url", "twilio_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def smtp_configured(self) -> bool:
        return bool(self.smtp_host)

    @property
    def twilio_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from_number)

    def safe_database_url(self) -> str:
        """The store's URL with any password masked, for logs."""
        return make_url(self.database_url).render_as_string(hide_password=True)


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line naming it."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "BALIE_" + "_".join(str(p) for p in first["loc"]).upper()
        raise SettingsError(f"setting {name} is invalid: {first['msg']}") from None
