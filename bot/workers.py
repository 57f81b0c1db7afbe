"""``balie run --webhook URL --workers N``: N worker processes behind one port, on one
PostgreSQL store, started, watched and stopped by this (parent) process.

Each worker is a whole ``balie run`` in webhook mode that binds the port with
``SO_REUSEPORT``, so the kernel spreads Telegram's connections over them; they share nothing
but the store (and Redis, when set), which orders each chat's updates across them (see
:mod:`storage.chat_turns`). Worker 0 is the leader: it alone does what N copies would do N
times (the webhook and the command menus at start, housekeeping, closing accounts, the
portal API on its own port). The parent holds no socket and no store: on SIGTERM or SIGINT
it passes SIGTERM on, so each worker finishes what it accepted, and it exits once all have
stopped. A worker that dies is logged and started again after a pause that grows while it
keeps dying; one that exits with an error before it was ever ready (a refused token, a
taken port) stops the whole group, since its siblings would fail alike.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

log = logging.getLogger("balie.workers")

RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
"""Seconds before a dead worker starts again: longer each time it dies soon after a start."""
STEADY_AFTER = 60.0
"""Seconds a worker must run before its next death starts the pauses over."""
WorkerMain = Callable[[int, Callable[[], None]], None]
"""Runs worker ``index`` (0 is the leader) in the child, calling the second argument once
it serves; importable by name (the child is spawned)."""


@dataclass
class _Worker:
    index: int
    process: BaseProcess | None = None
    started: float = 0.0
    starts: int = 0
    deaths: int = 0
    restart_at: float | None = None
    ready: Any = None
    """Set by the worker once it serves (a multiprocessing Event, shared by its lives)."""


class Supervisor:
    def __init__(
        self,
        count: int,
        main: WorkerMain,
        *,
        restart_delays: tuple[float, ...] = RESTART_DELAYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._workers = [_Worker(index) for index in range(count)]
        self._main = main
        self._delays = restart_delays
        self._clock = clock
        # spawn, not fork: each worker starts clean (no copied event loop, engine or socket).
        self._context = multiprocessing.get_context("spawn")
        self._stopping = False
        for worker in self._workers:
            worker.ready = self._context.Event()

    def run(self) -> int:
        """Run the workers until a signal, then stop them; the exit code for the parent."""
        previous = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            for worker in self._workers:
                self._start(worker)
            failed = self._watch()
            return failed if failed is not None else self._stop()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self._stopping:
            log.info("%s: stopping %d workers", signal.Signals(signum).name, len(self._workers))
        self._stopping = True
        self._forward()

    def _forward(self) -> None:
        for worker in self._workers:
            if worker.process is not None and worker.process.is_alive():
                worker.process.terminate()  # SIGTERM: the worker drains and stops

    def _start(self, worker: _Worker) -> None:
        process = self._context.Process(
            target=self._main,
            args=(worker.index, worker.ready.set),
            name=f"balie-worker-{worker.index}",
        )
        process.start()
        worker.process, worker.started, worker.restart_at = process, self._clock(), None
        worker.starts += 1
        log.info("worker %d started (pid %s)", worker.index, process.pid)

    def _watch(self) -> int | None:
        """Until stopping: restart dead workers; an exit code when a first start failed."""
        while not self._stopping:
            now = self._clock()
            for worker in self._workers:
                if worker.restart_at is not None and now >= worker.restart_at:
                    self._start(worker)
            alive = [
                w.process.sentinel for w in self._workers if w.process and w.process.is_alive()
            ]
            due = [w.restart_at for w in self._workers if w.restart_at is not None]
            timeout = min([1.0, *(max(0.0, at - now) for at in due)])
            if alive:
                wait(alive, timeout)
            else:
                time.sleep(timeout)
            for worker in self._workers:
                if worker.process is None or worker.process.is_alive() or self._stopping:
                    continue
                failed = self._died(worker)
                if failed is not None:
                    self._stopping = True
                    self._forward()
                    self._join()
                    return failed
        return None

    def _died(self, worker: _Worker) -> int | None:
        assert worker.process is not None
        code = worker.process.exitcode
        ran = self._clock() - worker.started
        worker.process = None
        if not worker.ready.is_set() and isinstance(code, int) and code > 0:
            # It gave up by itself (a signal, say the OOM killer's, is a death): so would
            # every other worker, again and again.
            log.error("worker %d failed at start (exit %s); stopping", worker.index, code)
            return code
        worker.deaths = 0 if ran >= STEADY_AFTER else worker.deaths + 1
        delay = self._delays[min(max(worker.deaths - 1, 0), len(self._delays) - 1)]
        log.error(
            "worker %d (exit %s) stopped unexpectedly after %.0f s; starting it again in %.0f s",
            worker.index,
            code,
            ran,
            delay,
        )
        worker.restart_at = self._clock() + delay
        return None

    def _stop(self) -> int:
        self._forward()
        codes = self._join()
        log.info("all workers stopped")
        # -SIGTERM: stopped while it was still starting, before it could drain anything.
        return 0 if all(code in (0, -signal.SIGTERM) for code in codes) else 1

    def _join(self) -> list[Any]:
        codes = []
        for worker in self._workers:
            if worker.process is not None:
                worker.process.join()
                codes.append(worker.process.exitcode)
        return codes
