"""``python -m bench``: Balie against a bare aiogram echo bot, through one harness; one table.

    .venv/bin/python -m bench [--quick] [--levels 1,10,100,1000] [--seconds N]
        [--only ROW[,ROW..]] [--postgres-url URL]

Rows (``--only`` takes these keys or the full names): echo-polling, sqlite, ptb, defaults,
echo-webhook, pg1, pg2, pg3, pg4, and the extras growth, rss, broadcast, announce. Usually run as
``bash scripts/bench.sh``, which starts PostgreSQL first. Prints the table as Markdown and
writes the same results to bench/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import extras, report
from bench.rows import ROWS, Options, Result, Row, measure, pools_for
from bench.seed import Databases

EXTRAS = ("growth", "rss", "broadcast", "announce")
QUICK_LEVELS = (1, 10, 100)


def _levels(text: str) -> tuple[int, ...]:
    try:
        levels = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text}") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("levels are positive numbers, e.g. 1,10,100")
    return levels


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="levels 1,10,100, short windows")
    parser.add_argument("--levels", type=_levels, help="concurrent users (default 1,10,100,1000)")
    parser.add_argument("--seconds", type=float, help="measured window per level (default 20)")
    parser.add_argument("--only", help="comma-separated row keys or names (and extras)")
    parser.add_argument(
        "--postgres-url",
        help="a server for the PostgreSQL rows (default: BALIE_TEST_POSTGRES_URL, else "
        "scripts/postgres.sh url); a database is created and dropped per level",
    )
    return parser


def _postgres_url(given: str | None) -> str | None:
    if given:
        return given
    if os.environ.get("BALIE_TEST_POSTGRES_URL"):
        return os.environ["BALIE_TEST_POSTGRES_URL"]
    script = Path(__file__).resolve().parent.parent / "scripts" / "postgres.sh"
    found = subprocess.run(["bash", str(script), "url"], capture_output=True, text=True)
    return found.stdout.strip().splitlines()[-1] if found.returncode == 0 else None


def _selected(only: str | None) -> tuple[list[Row], list[str]]:
    if not only:
        return list(ROWS), list(EXTRAS)
    wanted = {part.strip().lower() for part in only.split(",") if part.strip()}
    rows = [row for row in ROWS if row.key in wanted or row.name.lower() in wanted]
    chosen = [extra for extra in EXTRAS if extra in wanted]
    unknown = wanted - {r.key for r in rows} - {r.name.lower() for r in rows} - set(chosen)
    if unknown:
        keys = ", ".join([r.key for r in ROWS] + list(EXTRAS))
        raise SystemExit(f"python -m bench: unknown row {sorted(unknown)[0]!r} (rows: {keys})")
    return rows, chosen


async def _run(
    rows: list[Row], chosen: list[str], options: Options
) -> tuple[list[Result], list[extras.Line]]:
    results: list[Result] = []
    lines: list[extras.Line] = []
    pools = pools_for(options.levels, options.seconds, options.warmup)
    sqlite = Databases(options.folder)
    postgres = Databases(options.folder, options.postgres_url) if options.postgres_url else None
    try:
        for row in rows:
            levels = [level for level in row.levels if level in options.levels]
            store = postgres if row.postgres else sqlite
            if row.postgres and store is None:
                lines.append(extras.Line(f"{row.name}: skipped (no PostgreSQL server)", {}))
                continue
            if not levels:
                continue
            assert store is not None
            if store.template is None and row.spec.kind == "balie":
                await store.make_template(pools)
            for level in levels:
                try:
                    result = await measure(
                        row, level, options, store if row.spec.kind == "balie" else None, pools
                    )
                except RuntimeError as exc:  # the bot did not start: say so, go on
                    failed = f"{row.name} at {level}: failed: {str(exc).splitlines()[0]}"
                    print(f"bench: {failed}", file=sys.stderr, flush=True)
                    lines.append(extras.Line(failed, {}))
                    continue
                print(_progress(result), file=sys.stderr, flush=True)
                results.append(result)
        if "growth" in chosen:
            if options.quick:
                lines.append(extras.Line("Store growth: skipped with --quick", {}))
            else:
                lines.append(await extras.growth(options))
        if "rss" in chosen:
            lines.append(
                await extras.open_conversations(options, 1_000 if options.quick else 10_000)
            )
        if "broadcast" in chosen:
            if options.quick and len(chosen) > 1:
                lines.append(extras.Line("Broadcast to 10,000 chats: skipped with --quick", {}))
            else:
                lines.append(await extras.broadcast_line(options.folder))
        if "announce" in chosen:
            lines += await extras.announce_lines(options.folder, 1_000 if options.quick else 10_000)
    finally:
        if postgres is not None:
            await postgres.drop_all()
    return results, lines


def _progress(result: Result) -> str:
    p99 = result.percentile(0.99)
    shown = "-" if p99 is None else f"{p99 * 1000:.0f} ms"
    return (
        f"bench: {result.row} at {result.level}: {result.steps_per_second:.0f} steps/s, "
        f"p99 {shown}, {result.errors} errors"
        + (f" ({result.error_samples[0]})" if result.error_samples else "")
    )


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    rows, chosen = _selected(args.only)
    levels = args.levels or (QUICK_LEVELS if args.quick else (1, 10, 100, 1000))
    seconds = args.seconds or (3.0 if args.quick else 20.0)
    postgres_url = _postgres_url(args.postgres_url) if any(r.postgres for r in rows) else None
    shown: dict[str, Any] = {
        "quick": args.quick,
        "levels": ",".join(map(str, levels)),
        "seconds": seconds,
        "only": args.only,
    }
    with tempfile.TemporaryDirectory(prefix="balie-bench-") as scratch:
        options = Options(
            levels=levels,
            seconds=seconds,
            warmup=1.0 if args.quick else 3.0,
            quick=args.quick,
            postgres_url=postgres_url,
            folder=Path(scratch),
        )
        results, lines = asyncio.run(_run(rows, chosen, options))
    machine = report.machine_line(report.postgres_version(postgres_url), shown)
    print(report.table(results))
    print()
    for line in lines:
        print(f"- {line.text}")
    print()
    print(machine)
    path = report.write_json(results, {line.text: line.values for line in lines}, machine, shown)
    print(f"(results also in {path})")


if __name__ == "__main__":
    main()
