#!/usr/bin/env bash
# A throwaway Redis server for Balie's tests (shared Telegram pacing, BALIE_REDIS_URL).
#
#   scripts/redis.sh start    start it; prints its URL last on stdout
#   scripts/redis.sh stop     stop it (no-op when it is not running)
#   scripts/redis.sh url      print redis://127.0.0.1:PORT/0 (exit 1 when it is not running)
#   scripts/redis.sh status   exit 0 when running (prints the URL), 1 when not
#
# It keeps its pid, port and log in .redis/ in the repository (gitignored), listens on
# 127.0.0.1 only, on port 56379 or the next free one, and persists nothing. The binary comes
# from BALIE_REDIS_SERVER or PATH; if there is none, root installs Debian's `redis-server`
# package with apt-get (a non-root user gets exit 3 and an explanation).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd -P)/.redis"
DEFAULT_PORT=56379

log() { echo "redis.sh: $*" >&2; }
die() {
    log "$*"
    exit 1
}

find_server() {
    if [[ -n "${BALIE_REDIS_SERVER:-}" ]]; then
        [[ -x "$BALIE_REDIS_SERVER" ]] || { log "BALIE_REDIS_SERVER=$BALIE_REDIS_SERVER is not executable"; return 2; }
        echo "$BALIE_REDIS_SERVER"
        return 0
    fi
    command -v redis-server 2>/dev/null || { [[ -x /usr/bin/redis-server ]] && echo /usr/bin/redis-server; }
}

install_redis() {
    if [[ $(id -u) -ne 0 ]]; then
        log "no redis-server found on PATH, and only root may install it."
        log "Install Redis (Debian: sudo apt-get install redis-server), or set BALIE_REDIS_SERVER."
        exit 3
    fi
    command -v apt-get >/dev/null 2>&1 || { log "no redis-server and no apt-get to install it"; exit 3; }
    log "no redis-server found: installing Debian's redis-server package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # The package may start a system-wide server on 6379: stopped below, ours is separate.
    apt-get install -y -qq --no-install-recommends redis-server >&2 \
        || { log "apt-get install redis-server failed"; exit 3; }
    if command -v service >/dev/null 2>&1; then service redis-server stop >/dev/null 2>&1 || true; fi
}

running_pid() {
    local pid
    pid="$(cat "$root/redis.pid" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ && -d "/proc/$pid" ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" == redis-server* ]] || return 1
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

url() { echo "redis://127.0.0.1:$(cat "$root/redis.port")/0"; }

cmd_start() {
    local server port found=0
    if running_pid >/dev/null; then
        log "already running"
        url
        return 0
    fi
    server="$(find_server)" || found=$?
    if [[ $found -eq 2 ]]; then
        exit 3
    elif [[ -z "${server:-}" ]]; then
        install_redis
        server="$(find_server)" || die "redis-server was installed but not found"
    fi
    mkdir -p "$root"
    chmod 700 "$root"
    for ((port = DEFAULT_PORT; port < DEFAULT_PORT + 200; port++)); do
        port_free "$port" && break
    done
    port_free "$port" || die "no free port in $DEFAULT_PORT..$((DEFAULT_PORT + 199))"
    echo "$port" >"$root/redis.port"
    rm -f "$root/redis.pid"
    log "starting $("$server" --version | cut -d' ' -f1-3) on 127.0.0.1:$port"
    "$server" --port "$port" --bind 127.0.0.1 --protected-mode yes --save "" --appendonly no \
        --daemonize yes --pidfile "$root/redis.pid" --logfile "$root/redis.log" --dir "$root" \
        || die "redis-server did not start (log: $root/redis.log)"
    for _ in $(seq 1 100); do
        if running_pid >/dev/null && python3 - "$port" <<'EOF'
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1) as s:
    s.sendall(b"PING\r\n")
    sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
EOF
        then
            url
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$root/redis.log" >&2 || true
    die "redis-server did not answer PING (log: $root/redis.log)"
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
    running_pid >/dev/null || { log "the test server is not running: run scripts/redis.sh start"; return 1; }
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

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    url) cmd_url ;;
    status) cmd_status ;;
    *) echo "usage: $0 start|stop|url|status" >&2; exit 2 ;;
esac
