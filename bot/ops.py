"""What operators watch: Prometheus metrics, a health check, and one log event per step.

``GET /metrics`` answers in Prometheus' text format (prometheus-client) and ``GET /healthz``
says whether the store answers, the outbox worker is alive and how deep the outbox is. Both
are served on the webhook server in webhook mode, and on ``balie run --metrics-port N`` in
polling mode. Each desk step is also one log event: update id, a keyed hash of the chat id,
flow, step, outcome and duration; never what was typed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from sqlalchemy import text

from flows.domain import DeliveryChannel
from flows.keys import KeyedHasher
from flows.ports import Clock, StepRecord
from storage.uow import Store

log = logging.getLogger("balie.steps")

STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Balie's Prometheus metrics, in a registry of their own (no module-level state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.updates = Counter(
            "balie_updates_handled",
            "Updates the desk handled, by flow and outcome.",
            ["flow", "outcome"],
            registry=self.registry,
        )
        self.step_seconds = Histogram(
            "balie_step_seconds",
            "How long the desk took for one update, by flow.",
            ["flow"],
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "balie_outbox_depth",
            "Outbox messages by state (read from the store when scraped).",
            ["state"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "balie_outbox_deliveries",
            "Outbox delivery attempts, by channel and outcome.",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.telegram_429 = Counter(
            "balie_telegram_flood_waits",
            "Times Telegram answered 429 (flood control).",
            registry=self.registry,
        )

    def delivered(self, channel: DeliveryChannel, outcome: str) -> None:
        self.deliveries.labels(channel.value, outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class StepObserver:
    """The desk's observer: each handled step counted, timed and logged as one event."""

    def __init__(self, metrics: Metrics, hasher: KeyedHasher) -> None:
        self._metrics = metrics
        self._hasher = hasher

    def handled(self, record: StepRecord) -> None:
        self._metrics.updates.labels(record.flow, record.outcome).inc()
        self._metrics.step_seconds.labels(record.flow).observe(record.seconds)
        log.info(
            "step %s/%s %s in %.0f ms",
            record.flow,
            record.step,
            record.outcome,
            record.seconds * 1000,
            extra={
                "fields": {
                    "update_id": record.update_id,
                    "chat": self._hasher.sign("log:chat", str(record.chat_id), 12),
                    "flow": record.flow,
                    "step": record.step,
                    "outcome": record.outcome,
                    "duration_ms": round(record.seconds * 1000, 1),
                }
            },
        )


@dataclass
class Heartbeat:
    """When a loop last came round; "alive" while that is recent."""

    clock: Clock
    last: datetime | None = None

    def beat(self) -> None:
        self.last = self.clock.now()

    def alive(self, within: timedelta) -> bool:
        return self.last is not None and self.clock.now() - self.last <= within


class OpsEndpoints:
    """``/healthz`` and ``/metrics`` for an aiohttp application."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        worker: Heartbeat,
        *,
        worker_within: timedelta = timedelta(minutes=2),
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._worker = worker
        self._worker_within = worker_within

    def install(self, app: web.Application) -> None:
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics_page)

    async def _outbox_depth(self) -> dict[str, int]:
        async with self._store.transaction() as tx:
            return await tx.outbox.counts_by_status()

    async def _healthz(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        body: dict[str, object] = {}
        try:
            async with self._store.transaction() as tx:
                await tx.session.execute(text("SELECT 1"))
            body["store"] = "ok"
            depth = await self._outbox_depth()
            body["outbox_pending"] = depth.get("pending", 0)
        except Exception as exc:
            body["store"] = f"unreachable: {type(exc).__name__}"
        body["worker"] = "alive" if self._worker.alive(self._worker_within) else "stalled"
        body["ms"] = round((time.perf_counter() - started) * 1000, 1)
        healthy = body["store"] == "ok" and body["worker"] == "alive"
        return web.json_response(body, status=200 if healthy else 503)

    async def _metrics_page(self, request: web.Request) -> web.Response:
        try:
            for state, count in (await self._outbox_depth()).items():
                self._metrics.outbox_depth.labels(state).set(count)
        except Exception as exc:
            log.warning("outbox depth not read for /metrics: %s", type(exc).__name__)
        response = web.Response(body=self._metrics.render())
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response


class OpsServer:
    """``/healthz`` and ``/metrics`` on a port of their own (polling mode)."""

    def __init__(self, endpoints: OpsEndpoints, host: str, port: int) -> None:
        self._endpoints = endpoints
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        self._endpoints.install(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
