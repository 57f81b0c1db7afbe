"""The composition root: settings -> store, desk and outbox worker. No module-level state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from sqlalchemy.engine import make_url

from bot import telegram_sender
from bot.directories.select import DeploymentDirectories, build_directories
from bot.directories.sync import DirectorySync
from bot.notifications.sink import OnDelivery
from bot.notifications.worker import OutboxWorker, build_senders
from bot.ops import Heartbeat, Metrics, OpsEndpoints, StepObserver
from bot.sealing import Sealer, outbox_sealer
from bot.secret_key import load_hasher
from bot.settings import Settings
from bot.webhook import AnsweredDoor
from flows.builtin_directory import PasswordVerifier
from flows.desk import Desk
from flows.keys import KeyedHasher
from flows.portal_api import PortalApi, VerifyLimits
from flows.ports import ChatPort, Clock, SharedPace, SystemClock
from flows.turn import DeskPolicy
from handlers import web_api
from handlers.web_api import ApiServer
from storage import migrate
from storage.db import create_engine
from storage.redis_limits import RedisLimits
from storage.redis_link import RedisLink
from storage.redis_updates import RedisAnsweredUpdates
from storage.uow import Store


class SchemaNotCurrent(Exception):
    """The store's schema is older than this version of Balie; run ``balie db upgrade``."""


def sink_path(settings: Settings) -> Path:
    """The local sink lives beside the SQLite file, or in ./data for other stores."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).parent / "sink.jsonl"
    return Path("data") / "sink.jsonl"


def open_store(
    settings: Settings, hasher: KeyedHasher, fast_limits: RedisLimits | None = None
) -> Store:
    """The store on ``settings.database_url``, sealing sensitive outbox bodies under a key
    derived from the server key (every process that queues or delivers a code uses this);
    with ``fast_limits``, the abuse limits count in Redis."""
    return Store(
        create_engine(settings.database_url, pool_size=settings.database_pool_size),
        sealer=outbox_sealer(hasher),
        fast_limits=fast_limits,
    )


def redis_limits(redis: RedisLink, hasher: KeyedHasher) -> RedisLimits:
    """The abuse limits in Redis, their keys hashed under a key derived from the server key."""
    return RedisLimits(redis, hasher.derived_keys("redis-limit-keys")[0])


@dataclass
class Balie:
    settings: Settings
    store: Store
    desk: Desk
    clock: Clock
    hasher: KeyedHasher
    metrics: Metrics
    worker_heartbeat: Heartbeat
    """The outbox worker beats once per pass; /healthz reports it stalled when it stops."""
    directories: DeploymentDirectories
    """Where each organization's accounts live (the store, LDAP, SCIM)."""
    portal: PortalApi
    """``/api/v1/verify`` for portals on the built-in directory."""
    shared_pace: SharedPace | None = None
    """Telegram's limits shared with the bot's other workers (Redis or the store)."""
    redis: RedisLink | None = None
    """The fast counters' Redis (``BALIE_REDIS_URL``): abuse limits, answered updates."""
    answered_door: AnsweredDoor | None = None
    """Answered updates in Redis: a redelivery is dropped before it costs a query."""

    @classmethod
    async def open(cls, settings: Settings, *, channel: str, clock: Clock | None = None) -> Balie:
        """Open the store (migrating an embedded SQLite store) and build the desk."""
        hasher = load_hasher(settings)
        if make_url(settings.database_url).get_backend_name() == "sqlite":
            await migrate.upgrade(settings.database_url)
        elif not await migrate.is_current(settings.database_url):
            raise SchemaNotCurrent("the store's schema is not current: run `balie db upgrade`")
        clock = clock or SystemClock()
        directories = build_directories(settings)
        await directories.check()  # a bad certificate or a refused bind stops the start here
        redis = RedisLink(settings.redis_url.get_secret_value()) if settings.redis_url else None
        store = open_store(settings, hasher, redis_limits(redis, hasher) if redis else None)
        policy = DeskPolicy(
            default_language=settings.default_language,
            channel=channel,
            code_requests_per_hour=settings.code_requests_per_hour,
            wrong_attempts_per_hour=settings.wrong_attempts_per_hour,
            wrong_attempts_per_account=settings.wrong_attempts_per_account,
            partner_id_attempts_per_hour=settings.partner_id_attempts_per_hour,
            steady_answer=timedelta(milliseconds=settings.steady_answer_ms),
            sms_countries=settings.sms_country_codes,
            sms_per_hour_per_org=settings.sms_per_hour_per_org,
            sms_per_hour=settings.sms_per_hour,
            invitation_valid_for=timedelta(days=settings.invitation_days),
            pairing_valid_for=timedelta(minutes=settings.pairing_minutes),
            staff_step_up_idle=settings.staff_step_up_idle,
        )
        metrics = Metrics()
        desk = Desk(
            store,
            policy,
            clock,
            hasher,
            StepObserver(metrics, hasher),
            Sealer(hasher),
            directories=directories,
        )
        shared = telegram_sender.shared_pace(settings, store) if channel == "telegram" else None
        limits = VerifyLimits(
            settings.verify_per_login_per_hour, settings.verify_per_key_per_minute
        )
        portal = PortalApi(store, PasswordVerifier(), limits)
        return cls(
            settings,
            store,
            desk,
            clock,
            hasher,
            metrics,
            Heartbeat(clock),
            directories,
            portal,
            shared,
            redis,
            RedisAnsweredUpdates(redis, telegram_sender.bot_namespace(settings)) if redis else None,
        )

    def outbox_worker(
        self,
        chat: ChatPort | None,
        on_delivery: OnDelivery | None = None,
        chat_name: str = "Telegram",
    ) -> OutboxWorker:
        email, sms = build_senders(self.settings, sink_path(self.settings), on_delivery)
        return OutboxWorker(
            self.store,
            email=email,
            sms=sms,
            chat=chat,
            clock=self.clock,
            directory=DirectorySync(self.store, self.directories, self.clock),
            poll_seconds=self.settings.outbox_poll_seconds,
            delivery_timeout=self.settings.outbox_delivery_timeout,
            lease=timedelta(seconds=self.settings.outbox_lease),
            default_language=self.settings.default_language,
            chat_name=chat_name,
            on_pass=self.worker_heartbeat.beat,
            on_outcome=self.metrics.delivered,
        )

    def api_server(self) -> ApiServer | None:
        """The portal API on ``BALIE_API_PORT``, when set."""
        if self.settings.api_port is None:
            return None
        return ApiServer(self.portal, self.clock, self.settings.api_host, self.settings.api_port)

    def install_api(self, app: web.Application) -> None:
        """The portal API on another server (the webhook server)."""
        web_api.install(app, self.portal, self.clock)

    def ops(self) -> OpsEndpoints:
        """/healthz and /metrics for this process."""
        return OpsEndpoints(self.store, self.metrics, self.worker_heartbeat)

    async def close(self) -> None:
        await self.directories.aclose()
        if self.shared_pace is not None:
            await self.shared_pace.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        await self.store.close()
