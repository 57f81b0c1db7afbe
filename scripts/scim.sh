#!/usr/bin/env bash
# A throwaway SCIM 2.0 server for Balie's tests (the scim directory, BALIE_SCIM_URL).
#
#   scripts/scim.sh start    start it; prints its URL last on stdout
#   scripts/scim.sh stop     stop it (no-op when it is not running)
#   scripts/scim.sh url      print http://127.0.0.1:PORT/v2 (exit 1 when it is not running)
#   scripts/scim.sh status   exit 0 when running (prints the URL), 1 when not
#   scripts/scim.sh env      print `export BALIE_TEST_SCIM_URL=... BALIE_TEST_SCIM_TOKEN=...`
#
# The server is scim2-server (a dev dependency in pyproject.toml, so it lives in .venv):
# users and groups in memory, RFC 8265's PRECIS rules on userName and password (so it
# refuses some passwords, as a real policy would), and a bearer token drawn at each start.
# It keeps its pid, port, token and log in .scim/ in the repository (gitignored), listens
# on 127.0.0.1 only, on port 56380 or the next free one, and persists nothing. The command
# comes from BALIE_SCIM_SERVER or .venv/bin/scim2-server; if .venv has none, scripts/setup.sh
# installs it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd -P)/.scim"
DEFAULT_PORT=56380

log() { echo "scim.sh: $*" >&2; }
die() {
    log "$*"
    exit 1
}

find_server() {
    if [[ -n "${BALIE_SCIM_SERVER:-}" ]]; then
        [[ -x "$BALIE_SCIM_SERVER" ]] || { log "BALIE_SCIM_SERVER=$BALIE_SCIM_SERVER is not executable"; return 2; }
        echo "$BALIE_SCIM_SERVER"
        return 0
    fi
    [[ -x .venv/bin/scim2-server ]] && echo "$(pwd -P)/.venv/bin/scim2-server"
}

install_server() {
    log "no scim2-server in .venv: running scripts/setup.sh (it installs the dev dependencies)"
    bash scripts/setup.sh >&2 || { log "scripts/setup.sh failed"; exit 3; }
}

running_pid() {
    local pid
    pid="$(cat "$root/scim.pid" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ && -d "/proc/$pid" ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" == scim2-server* ]] || return 1
    echo "$pid"
}

port_free() {
    python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
}

url() { echo "http://127.0.0.1:$(cat "$root/scim.port")/v2"; }

cmd_start() {
    local server port pid found=0
    if running_pid >/dev/null; then
        log "already running"
        url
        return 0
    fi
    server="$(find_server)" || found=$?
    if [[ $found -eq 2 ]]; then
        exit 3
    elif [[ -z "${server:-}" ]]; then
        install_server
        server="$(find_server)" || die "scim2-server was installed but not found"
    fi
    mkdir -p "$root"
    chmod 700 "$root"
    for ((port = DEFAULT_PORT; port < DEFAULT_PORT + 200; port++)); do
        port_free "$port" && break
    done
    port_free "$port" || die "no free port in $DEFAULT_PORT..$((DEFAULT_PORT + 199))"
    echo "$port" >"$root/scim.port"
    rm -f "$root/scim.pid"
    (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(24))' >"$root/scim.token")
    log "starting scim2-server $("$(dirname "$server")/python" -c 'import importlib.metadata as m; print(m.version("scim2-server"))' 2>/dev/null || echo "?") on 127.0.0.1:$port"
    # setsid: its own session, so the caller's Ctrl-C or exit does not take it along.
    # --bearer-token=TOKEN, one word: a token that starts with "-" (token_urlsafe draws one
    # in 32 times) would otherwise read as an option and the server would not start.
    setsid "$server" --hostname 127.0.0.1 --port "$port" --precis \
        "--bearer-token=$(cat "$root/scim.token")" </dev/null >"$root/scim.log" 2>&1 &
    pid=$!
    echo "$pid" >"$root/scim.pid"
    for _ in $(seq 1 100); do
        [[ -d "/proc/$pid" ]] || break
        if running_pid >/dev/null && python3 - "$port" <<'EOF'
import sys, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/v2/ServiceProviderConfig"
with urllib.request.urlopen(url, timeout=1) as answer:
    sys.exit(0 if b"ServiceProviderConfig" in answer.read() else 1)
EOF
        then
            url
            return 0
        fi 2>/dev/null
        sleep 0.1
    done
    tail -n 20 "$root/scim.log" >&2 || true
    die "scim2-server did not answer (log: $root/scim.log)"
}

cmd_stop() {
    local pid
    if ! pid="$(running_pid)"; then
        log "not running"
        return 0
    fi
    kill "$pid"
    for _ in $(seq 1 50); do
        [[ -d "/proc/$pid" ]] || { log "stopped"; return 0; }
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped (killed)"
}

cmd_url() {
    running_pid >/dev/null || { log "the test server is not running: run scripts/scim.sh start"; return 1; }
    url
}

cmd_status() {
    local pid
    if pid="$(running_pid)"; then
        echo "running (pid $pid): $(url)"
        return 0
    fi
    echo "not running"
    return 1
}

cmd_env() {
    cmd_url >/dev/null || return 1
    echo "export BALIE_TEST_SCIM_URL=$(url) BALIE_TEST_SCIM_TOKEN=$(cat "$root/scim.token")"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    url) cmd_url ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *) echo "usage: $0 start|stop|url|status|env" >&2; exit 2 ;;
esac
