"""The parent of ``balie run --workers N`` (:class:`bot.workers.Supervisor`) with stand-in
workers in real processes: it passes SIGTERM on and waits for each to stop, starts a worker
that died again, and stops the group when a worker fails at its first start."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from bot.workers import Supervisor


@dataclass(frozen=True)
class StandIn:
    """A worker that notes its start and its graceful stop in ``folder``; worker 1 dies
    (exit 3) in its first life when ``dies_once``; all fail at once when ``fails``."""

    folder: Path
    dies_once: bool = False
    fails: bool = False

    def __call__(self, index: int, ready: Callable[[], None]) -> None:
        if self.fails:
            sys.exit(1)
        ready()
        pid = os.getpid()

        def stop(_signum: int, _frame: FrameType | None) -> None:
            (self.folder / f"{index}-{pid}.stopped").touch()
            sys.exit(0)

        signal.signal(signal.SIGTERM, stop)
        (self.folder / f"{index}-{pid}.started").touch()
        died = self.folder / "died"
        if self.dies_once and index == 1 and not died.exists():
            died.touch()
            time.sleep(0.3)
            os._exit(3)
        while True:
            time.sleep(1)


def files(folder: Path, suffix: str) -> list[str]:
    return sorted(path.name.split("-")[0] for path in folder.glob(f"*.{suffix}"))


def signal_when(condition: Callable[[], bool], signum: int = signal.SIGTERM) -> threading.Thread:
    """Sends ``signum`` to this (the supervising) process once ``condition`` holds."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signum)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_sigterm_reaches_every_worker_and_each_stops_gracefully(tmp_path: Path) -> None:
    signal_when(lambda: len(files(tmp_path, "started")) == 3)
    code = Supervisor(3, StandIn(tmp_path)).run()
    assert code == 0
    assert files(tmp_path, "stopped") == ["0", "1", "2"]


def test_a_worker_that_dies_is_started_again(tmp_path: Path) -> None:
    signal_when(lambda: files(tmp_path, "started") == ["0", "1", "1"], signal.SIGINT)
    code = Supervisor(2, StandIn(tmp_path, dies_once=True), restart_delays=(0.1,)).run()
    assert code == 0
    assert files(tmp_path, "started") == ["0", "1", "1"]
    assert files(tmp_path, "stopped") == ["0", "1"]  # the second life of worker 1


def test_a_failure_at_the_first_start_stops_the_group(tmp_path: Path) -> None:
    assert Supervisor(2, StandIn(tmp_path, fails=True)).run() == 1
