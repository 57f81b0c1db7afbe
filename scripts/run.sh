#!/usr/bin/env bash
# Run the bot: make sure .venv is set up, then `balie run` with any extra arguments.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh >&2
exec .venv/bin/balie run "$@"
