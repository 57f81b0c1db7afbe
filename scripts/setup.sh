#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install Balie with its dev extras into it.
#
# Idempotent: the install is skipped while pyproject.toml, the interpreter and the
# repository path are unchanged since the last successful install (stamp kept in
# .venv/.balie-installed). Set BALIE_FORCE_INSTALL=1 to reinstall anyway, and
# PYTHON=/path/to/python to choose the interpreter that creates the venv.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd -P)"
venv="$repo/.venv"
stamp="$venv/.balie-installed"

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

die() {
    echo "setup: $*" >&2
    exit 1
}

# True when "$1" runs and is Python >= 3.11.
python_ok() {
    "$1" -c 'import sys; raise SystemExit(0 if sys.version_info >= (3, 11) else 1)' \
        >/dev/null 2>&1
}

find_python() {
    local candidate
    for candidate in ${PYTHON:-} python3 python3.13 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

make_venv() {
    local python
    if ! python="$(find_python)"; then
        local seen="none found"
        if command -v python3 >/dev/null 2>&1; then
            seen="python3 is $(python3 -c 'import sys; print(sys.version.split()[0])' 2>/dev/null || echo '?')"
        fi
        die "Balie needs Python 3.11 or newer ($seen). Install it, or point PYTHON= at one."
    fi
    echo "setup: creating .venv with $python ($("$python" -c 'import sys; print(sys.version.split()[0])'))"
    rm -rf "$venv"
    if ! "$python" -m venv "$venv" 2>/dev/null; then
        rm -rf "$venv"
        # Debian's python3 ships venv/ensurepip separately (python3-venv).
        if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            echo "setup: '$python -m venv' failed; installing Debian's python3-venv"
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq
            local minor
            minor="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
            apt-get install -y -qq python3-venv >/dev/null \
                || apt-get install -y -qq "python${minor}-venv" >/dev/null \
                || die "could not install python3-venv"
            "$python" -m venv "$venv" || die "'$python -m venv .venv' failed"
        else
            "$python" -m venv "$venv" \
                || die "'$python -m venv .venv' failed (on Debian: apt-get install python3-venv)"
        fi
    fi
    echo "$repo" >"$venv/.balie-location"
}

# (Re)create the venv when it is missing, broken, too old, or was made for another path
# (a moved venv has scripts whose #! lines point at the old place).
if [[ ! -x "$venv/bin/python" ]] || ! python_ok "$venv/bin/python" \
    || [[ "$(cat "$venv/.balie-location" 2>/dev/null || true)" != "$repo" ]]; then
    make_venv
fi

want="$(sha256sum pyproject.toml | cut -d' ' -f1) $("$venv/bin/python" -c 'import sys; print(sys.version.split()[0])') $repo"
have="$(cat "$stamp" 2>/dev/null || true)"

if [[ "$want" == "$have" && -z "${BALIE_FORCE_INSTALL:-}" ]] \
    && "$venv/bin/python" -c 'import importlib.metadata as m; m.version("balie")' >/dev/null 2>&1; then
    echo "setup: .venv is up to date ($("$venv/bin/python" -V 2>&1))"
    exit 0
fi

rm -f "$stamp"
echo "setup: installing Balie and its dev tools into .venv (pip install -e '.[dev]')"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e '.[dev]'
echo "$want" >"$stamp"
echo "setup: done: $("$venv/bin/python" -V 2>&1) in .venv with balie $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("balie"))' 2>/dev/null || echo "?")"
