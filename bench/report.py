"""The one table (Markdown), the machine line, and the same results as JSON."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.rows import ROWS, Result

RESULTS = Path(__file__).resolve().parent / "results"


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f}" if seconds < 0.1 else f"{seconds * 1000:.0f}"


def _floor(result: Result, results: list[Result]) -> Result | None:
    row = next((r for r in ROWS if r.key == result.key), None)
    if row is None or row.floor is None:
        return None
    return next((r for r in results if r.key == row.floor and r.level == result.level), None)


def table(results: list[Result]) -> str:
    """Steps/s and latency per row and level, with the ratio to the echo bot's floor."""
    lines = [
        "| row | users | steps/s | p50 ms | p95 ms | p99 ms | errors | Balie/echo steps/s "
        "| p99 / echo p99 | bot CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        floor = _floor(result, results)
        ratio = p99_ratio = "-"
        if floor is not None and floor.steps_per_second:
            ratio = f"{result.steps_per_second / floor.steps_per_second:.2f}"
            mine, theirs = result.percentile(0.99), floor.percentile(0.99)
            if mine is not None and theirs:
                p99_ratio = f"{mine / theirs:.1f}x"
        note = " (pool ran out)" if result.exhausted else ""
        lines.append(
            f"| {result.row}{note} | {result.level} | {result.steps_per_second:.0f} "
            f"| {_ms(result.percentile(0.5))} | {_ms(result.percentile(0.95))} "
            f"| {_ms(result.percentile(0.99))} | {result.errors} | {ratio} | {p99_ratio} "
            f"| {result.bot_cpu:.0%} |"
        )
    return "\n".join(lines)


def postgres_version(url: str | None) -> str:
    if not url:
        return "none"
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    async def ask() -> str:
        parsed = make_url(url)
        connection = await asyncpg.connect(
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.username,
            password=parsed.password,
            database=parsed.database,
        )
        try:
            return str(await connection.fetchval("SHOW server_version"))
        finally:
            await connection.close()

    try:
        return asyncio.run(ask())
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"


def machine_line(pg_version: str, options: dict[str, Any]) -> str:
    shown = " ".join(f"{k}={v}" for k, v in options.items() if v not in (None, False))
    return (
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, PostgreSQL {pg_version}. Options: {shown}. "
        "Pacing and the steady answer off except in the defaults row."
    )


def write_json(
    results: list[Result], extras: dict[str, Any], machine: str, options: dict[str, Any]
) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{stamp}.json"
    rows = []
    for result in results:
        entry = asdict(result)
        entry.pop("latencies")
        entry.update(
            steps_per_second=result.steps_per_second,
            p50=result.percentile(0.5),
            p95=result.percentile(0.95),
            p99=result.percentile(0.99),
        )
        rows.append(entry)
    body = {"machine": machine, "options": options, "rows": rows, "extras": extras}
    path.write_text(json.dumps(body, indent=1, default=str) + "\n", encoding="utf-8")
    return path
