"""Smoke test of the benchmark: ``python -m bench`` end to end at one user, on SQLite, for
the echo bot and Balie; the table prints, with steps and no errors (times are not checked)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _row(output: str, name: str) -> list[str]:
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells and cells[0] == name:
            return cells
    raise AssertionError(f"no row {name!r} in:\n{output}")


def test_bench_quick_prints_the_table_with_steps_and_no_errors() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BALIE_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--levels",
            "1",
            "--seconds",
            "1",
            "--only",
            "echo-polling,sqlite",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("echo aiogram polling", "Balie aiogram SQLite polling"):
        cells = _row(done.stdout, name)
        assert cells[1] == "1", cells
        assert float(cells[2]) > 0, cells  # steps/s
        assert cells[6] == "0", cells  # errors
    assert "Machine:" in done.stdout
