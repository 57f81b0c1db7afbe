"""The bot under test as its own OS process(es): Balie's ``balie run`` or the echo bot.

A separate process gets its own core on a small machine, and the harness's cost is not
counted as the bot's. Each starts in a scratch folder (no ``.env`` is read from the
checkout), logs to a file there, and is stopped with SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.botapi import TOKEN

REPO = Path(__file__).resolve().parent.parent
BENCH_KEY = "bench-only-secret-key-0123456789abcdef-not-for-production"
WEBHOOK_SECRET = "bench-webhook-secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class BotSpec:
    """How to start the bot of one row."""

    kind: str
    """``balie`` or ``echo``."""
    runtime: str = "aiogram"
    webhook: bool = False
    workers: int = 1
    pacing: bool = False
    """True: Balie's defaults (Telegram pacing and the steady answer); False: both off."""
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass
class Running:
    processes: list[asyncio.subprocess.Process]
    webhook_urls: list[str]
    logs: list[Path]

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]


def _environment(api_url: str, database_url: str, smtp_port: int, spec: BotSpec) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BALIE_")}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "BALIE_TELEGRAM_TOKEN": TOKEN,
            "BALIE_TELEGRAM_API_URL": api_url,
            "BALIE_DATABASE_URL": database_url,
            "BALIE_SECRET_KEY": BENCH_KEY,
            "BALIE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "BALIE_SMTP_HOST": "127.0.0.1",
            "BALIE_SMTP_PORT": str(smtp_port),
            "BALIE_SMTP_STARTTLS": "false",
            "BALIE_SMTP_FROM": "Balie <balie@bench.example>",
            "BALIE_DEFAULT_LANGUAGE": "en",
            "BALIE_RUNTIME": spec.runtime,
        }
    )
    if not spec.pacing:
        env.update(
            {
                "BALIE_TELEGRAM_RATE_GLOBAL": "0",
                "BALIE_TELEGRAM_RATE_PER_CHAT": "0",
                "BALIE_STEADY_ANSWER_MS": "0",
            }
        )
    env.update(spec.extra_env)
    return env


async def start(
    spec: BotSpec, api_url: str, database_url: str, smtp_port: int, folder: Path
) -> Running:
    """Start the row's bot process(es); the caller waits for readiness."""
    env = _environment(api_url, database_url, smtp_port, spec)
    processes, urls, logs = [], [], []
    for index in range(spec.workers):
        if spec.kind == "echo":
            args = ["-m", "bench.echo_bot", "polling"]
            if spec.webhook:
                port = free_port()
                args = ["-m", "bench.echo_bot", "webhook", "--port", str(port)]
                args += ["--secret", WEBHOOK_SECRET]
                urls.append(f"http://127.0.0.1:{port}/webhook")
        else:
            args = ["-m", "bot", "run"]
            if spec.webhook:
                port = free_port()
                url = f"http://127.0.0.1:{port}/telegram"
                args += ["--webhook", url, "--host", "127.0.0.1", "--port", str(port)]
                urls.append(url)
        log = folder / f"{spec.kind}-{index}.log"
        with log.open("ab") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, *args, env=env, cwd=folder, stdout=out, stderr=out
            )
        processes.append(process)
        logs.append(log)
    return Running(processes, urls, logs)


async def wait_listening(urls: list[str], running: Running, timeout: float = 120) -> None:  # noqa: ASYNC109
    """Until every webhook server accepts connections (or a process died)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for url in urls:
        port = int(url.split(":")[2].split("/")[0])
        while True:
            _check_alive(running)
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                if loop.time() > deadline:
                    raise RuntimeError(f"the bot did not listen on {port}") from None
                await asyncio.sleep(0.1)


def _check_alive(running: Running) -> None:
    for process, log in zip(running.processes, running.logs, strict=True):
        if process.returncode is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the bot exited with {process.returncode}:\n{tail}")


async def wait_for(event: asyncio.Event, running: Running, timeout: float = 60) -> None:  # noqa: ASYNC109
    """Until ``event`` is set (the bot's first call), failing if a process dies first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not event.is_set():
        _check_alive(running)
        if loop.time() > deadline:
            raise RuntimeError("the bot did not call the Bot API server in time")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), 0.2)


async def stop(running: Running, timeout: float = 30) -> None:  # noqa: ASYNC109
    for process in running.processes:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    for process in running.processes:
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()


def peak_rss_mib(pid: int) -> float | None:
    """VmHWM of a running process, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
