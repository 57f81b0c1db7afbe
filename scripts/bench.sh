#!/usr/bin/env bash
# Balie's benchmark (issue 12): one table, Balie against a bare aiogram echo bot.
#
#   bash scripts/bench.sh [--quick] [--levels 1,10,100,1000] [--seconds N] [--only ROW,..]
#
#   1. scripts/setup.sh when there is no .venv yet
#   2. PostgreSQL for the PostgreSQL rows: BALIE_TEST_POSTGRES_URL when set, else the
#      running test server, else scripts/postgres.sh start (stopped again on exit)
#   3. python -m bench "$@"
# The rows do not use Redis (yet): its counters outlive a level's fresh store.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -x .venv/bin/python ]]; then
    bash scripts/setup.sh
fi

started_pg=""
stop_servers() {
    if [[ -n "$started_pg" ]]; then bash scripts/postgres.sh stop || true; fi
}
trap stop_servers EXIT

if [[ -z "${BALIE_TEST_POSTGRES_URL:-}" ]]; then
    if bash scripts/postgres.sh status >/dev/null 2>&1; then
        BALIE_TEST_POSTGRES_URL="$(bash scripts/postgres.sh url)"
    else
        started_pg=1
        if pg_url="$(bash scripts/postgres.sh start)"; then
            BALIE_TEST_POSTGRES_URL="$(tail -n1 <<<"$pg_url")"
        else
            echo "bench.sh: no PostgreSQL: the PostgreSQL rows are skipped" >&2
        fi
    fi
fi
export BALIE_TEST_POSTGRES_URL

# Not exec: the trap above stops the servers this script started.
.venv/bin/python -m bench "$@"
