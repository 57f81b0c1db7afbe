"""Configuration from the environment (prefix ``BALIE_``) and an optional ``.env`` file."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum

import phonenumbers
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from flows.directory import DirectoryKind
from flows.domain import Language
from flows.keys import MIN_KEY_LENGTH

DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
DEFAULT_TWILIO_API_URL = "https://api.twilio.com"
WEBHOOK_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")
"""What Telegram accepts as a webhook's secret_token."""


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class Runtime(StrEnum):
    AIOGRAM = "aiogram"
    PTB = "ptb"


class Settings(BaseSettings):
    """Everything Balie reads from its environment; secrets are ``SecretStr``, never printed."""

    model_config = SettingsConfigDict(
        env_prefix="BALIE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = "sqlite+aiosqlite:///./data/balie.sqlite3"
    database_pool_size: int = Field(default=10, ge=1, le=500)
    """PostgreSQL: connections each process keeps open (a burst may open as many again).
    Keep workers × 2 × this under the server's ``max_connections``."""
    telegram_token: SecretStr | None = None
    telegram_api_url: str = DEFAULT_TELEGRAM_API_URL
    runtime: Runtime = Runtime.AIOGRAM
    webhook_url: str | None = None
    """Set: Telegram POSTs updates to this URL (webhook mode); unset: long polling."""
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    webhook_secret: SecretStr | None = None
    """Telegram sends it with every update; unset, each start makes a random one."""
    workers: int = Field(default=1, ge=1, le=64)
    """Webhook mode on PostgreSQL: this many worker processes share the port and the store."""

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

    log_format: LogFormat = LogFormat.TEXT
    """``json``: one JSON object per log line."""
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """Polling mode: serve /healthz and /metrics on this port (webhook mode serves them on
    the webhook server)."""
    metrics_host: str = "127.0.0.1"

    telegram_rate_global: float = Field(default=30.0, ge=0)
    """Bot API calls per second for the whole bot; 0: no limit."""
    telegram_rate_per_chat: float = Field(default=1.0, ge=0)
    """Messages per second to one private chat after a short burst; 0: no limit."""
    telegram_burst_per_chat: int = Field(default=3, ge=1, le=100)
    """Messages one private chat may get at once before its rate applies."""
    telegram_rate_per_group: int = Field(default=20, ge=0)
    """Messages per minute to one group chat; 0: no limit."""
    redis_url: SecretStr | None = None
    """Set (``redis://host:6379/0``): the workers of one bot share Telegram's limits, the
    abuse limits and the answered update ids through Redis; unset: Telegram's limits through
    the store on PostgreSQL (in-process on SQLite, one process), the rest in the store."""
    telegram_max_wait: float = Field(default=15.0, ge=0, le=300)
    """The longest flood-control pause a message waits out; a reply that would wait
    longer is kept in the outbox and sent after the pause."""

    default_language: Language = Language.NL
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_delivery_timeout: float = Field(default=30.0, gt=0, le=600)
    """Seconds one delivery (an SMTP session, a Twilio call) may take."""
    outbox_lease: float = Field(default=120.0, gt=0, le=3600)
    """Seconds a claimed message stays hidden from other workers; at least 1.5 times the
    delivery timeout. A worker that dies leaves its message to come back after this."""

    code_requests_per_hour: int = Field(default=3, ge=1, le=100)
    """Activation and reset codes one chat, or one account, may ask for in an hour."""
    wrong_attempts_per_hour: int = Field(default=10, ge=1, le=1000)
    """Wrong codes one chat may type in an hour before it must wait."""
    wrong_attempts_per_account: int = Field(default=5, ge=1, le=100)
    """Wrong codes one chat may type for one account (or customer number) in an hour."""
    partner_id_attempts_per_hour: int = Field(default=5, ge=1, le=100)
    """Unknown partner IDs one chat may type in an hour before it must wait."""

    steady_answer_ms: int = Field(default=80, ge=0, le=5000)
    """The least time an answer takes that could tell a known account from an unknown one."""

    secret_key: SecretStr | None = None
    """The server key for code digests and button signatures; never in the store. Unset on
    the embedded SQLite default: generated once into the data folder (mode 0600)."""
    secret_key_old: SecretStr | None = None
    """Earlier keys (comma-separated) that still verify during a rotation."""

    sms_countries: str = "NL"
    """ISO 3166 country codes (comma-separated) whose mobile numbers get codes by SMS."""
    sms_per_hour_per_org: int = Field(default=100, ge=0, le=100_000)
    """Code SMS one organization may send in an hour; beyond it codes go by e-mail only."""
    sms_per_hour: int = Field(default=500, ge=0, le=1_000_000)
    """Code SMS the whole deployment may send in an hour."""
    invitation_days: int = Field(default=7, ge=1, le=90)
    """Days an invitation's deep link stays valid (``balie invite``, ``/invite``)."""
    pairing_minutes: int = Field(default=5, ge=1, le=60)
    """Minutes a ``/pair`` link (a new linked device) stays valid."""
    staff_step_up_idle: timedelta = Field(
        default=timedelta(hours=12), ge=timedelta(minutes=1), le=timedelta(days=30)
    )
    """Where an organization requires two-step of its staff (``balie org set PID
    --require-2fa staff``): after this long without a staff command, the next one asks for
    the second factor again. Seconds, or ISO 8601 (``PT12H``)."""

    directory: DirectoryKind = DirectoryKind.BUILTIN
    """Where organizations' accounts live unless one is set otherwise (``balie org set
    PID --directory``): ``builtin`` (Balie's store; portals ask ``/api/v1/verify``),
    ``ldap`` (``BALIE_LDAP_*``) or ``scim`` (``BALIE_SCIM_*``)."""
    ldap_url: str | None = None
    """Set: the LDAP directory is available (its other settings: ``BALIE_LDAP_*``, see
    :class:`bot.directories.ldap.LdapSettings`)."""
    scim_url: str | None = None
    """Set: the SCIM 2.0 directory is available (``BALIE_SCIM_*``)."""
    directory_sweep_seconds: float = Field(default=300.0, gt=0, le=86_400)
    """How often the worker looks for out-of-service dates that have come, to disable
    those accounts in the directory."""
    notice_tick_seconds: float = Field(default=15.0, gt=0, le=3_600)
    """How often the worker queues the rest of a large urgent notice (past its first page),
    and looks for a weekly digest that is due and for urgent notices whose messages are all
    done (their sender gets the count)."""
    api_port: int | None = Field(default=None, ge=1, le=65535)
    """Serve the portal API (``POST /api/v1/verify``) on this port; in webhook mode it is
    served on the webhook server as well."""
    api_host: str = "127.0.0.1"
    verify_per_login_per_hour: int = Field(default=10, ge=1, le=10_000)
    """Failed password checks for one login in an hour before the API answers 429."""
    verify_per_key_per_minute: int = Field(default=600, ge=1, le=1_000_000)
    """Checks one API key may make in a minute before the API answers 429."""

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("not a database URL") from None
        if url.drivername not in {"sqlite+aiosqlite", "postgresql+asyncpg"}:
            raise ValueError("use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB")
        return value

    @field_validator("telegram_token", "smtp_password", "twilio_auth_token", "secret_key_old")
    @classmethod
    def _empty_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        """``BALIE_TELEGRAM_TOKEN=`` (empty, as compose files and .env templates leave it)
        means no token, not an invalid one."""
        return value if value is not None and value.get_secret_value().strip() else None

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < MIN_KEY_LENGTH:
            raise ValueError(f"must be at least {MIN_KEY_LENGTH} characters (a random string)")
        return value

    @field_validator("sms_countries")
    @classmethod
    def _sms_countries(cls, value: str) -> str:
        codes = [code.strip().upper() for code in value.split(",") if code.strip()]
        unknown = [code for code in codes if code not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"unknown country code {unknown[0]} (use ISO codes such as NL,BE)")
        return ",".join(codes)

    @field_validator("telegram_api_url", "twilio_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (or http:// for a local Bot API server)")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None  # empty: a random secret per start
        if not WEBHOOK_SECRET_PATTERN.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @model_validator(mode="after")
    def _lease_outlasts_delivery(self) -> Settings:
        if self.outbox_lease < 1.5 * self.outbox_delivery_timeout:
            raise ValueError(
                "BALIE_OUTBOX_LEASE must be at least 1.5 times BALIE_OUTBOX_DELIVERY_TIMEOUT"
            )
        return self

    @model_validator(mode="after")
    def _logins_complete(self) -> Settings:
        """Half a login would send codes to the local sink, or fail at each delivery."""
        groups = [
            {
                "SMTP_USERNAME": self.smtp_username,
                "SMTP_PASSWORD": self.smtp_password and self.smtp_password.get_secret_value(),
            },
            {
                "TWILIO_ACCOUNT_SID": self.twilio_account_sid,
                "TWILIO_AUTH_TOKEN": (
                    self.twilio_auth_token and self.twilio_auth_token.get_secret_value()
                ),
                "TWILIO_FROM_NUMBER": self.twilio_from_number,
            },
        ]
        for group in groups:
            missing = [name for name, value in group.items() if not value]
            if missing and len(missing) < len(group):
                given = next(name for name, value in group.items() if value)
                raise ValueError(f"BALIE_{missing[0]} is missing (needed with BALIE_{given})")
        return self

    @property
    def smtp_configured(self) -> bool:
        return bool(self.smtp_host)

    @property
    def twilio_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from_number)

    @property
    def sms_country_codes(self) -> frozenset[str]:
        return frozenset(code for code in self.sms_countries.split(",") if code)

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "sqlite"

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
        if not first["loc"]:  # a check across settings: the message names them
            raise SettingsError(f"setting {first['msg'].removeprefix('Value error, ')}") from None
        name = "BALIE_" + "_".join(str(p) for p in first["loc"]).upper()
        raise SettingsError(f"setting {name} is invalid: {first['msg']}") from None
