#!/usr/bin/env bash
# Try Balie on its embedded default: set up .venv, create the demo organization once,
# and chat with the desk in this terminal (SQLite file in ./data, mail and SMS to a local sink).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh >&2
.venv/bin/balie demo
exec .venv/bin/balie run "$@"
