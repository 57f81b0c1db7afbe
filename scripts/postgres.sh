#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for Balie's tests.
#
#   scripts/postgres.sh start    init (first time) and start it; prints its URL last on stdout
#   scripts/postgres.sh stop     stop it (no-op when it is not running)
#   scripts/postgres.sh url      print postgresql+asyncpg://balie@127.0.0.1:PORT/balie_test
#                                (exit 1 when it is not running)
#   scripts/postgres.sh status   exit 0 when running (prints the URL), 1 when not
#   scripts/postgres.sh wipe     stop it and delete its data
#
# The cluster lives in .pg/ in the repository (gitignored): .pg/data, .pg/postgres.log.
# When the server's user cannot reach that directory (a parent directory is not
# traversable), it lives in /tmp/balie-pg-<uid>-<hash of the repo path>/ instead.
#
# PostgreSQL refuses to run as root: as root the server runs as the system user
# `postgres` when it exists, else as `balie-pg` (created on first use). As any other
# user it runs as that user. Server binaries come from BALIE_PG_BINDIR, PATH, or
# /usr/lib/postgresql/*/bin (newest first); if there are none, root installs Debian's
# `postgresql` package with apt-get (a non-root user gets exit 3 and an explanation).
#
# It listens on 127.0.0.1 only (no Unix socket), on port 55432 or the next free one
# (BALIE_PG_PORT forces one); the port is remembered in DATA/balie.port and reused.
# Authentication is `trust`; the superuser is `balie`; the database is `balie_test`.
# Durability is switched off (fsync, synchronous_commit, full_page_writes): test data only.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd -P)"

PG_SUPERUSER=balie
PG_DATABASE=balie_test
DEFAULT_PORT=55432

key="$(printf '%s' "$repo" | sha256sum | cut -c1-12)"
in_repo_root="$repo/.pg"
tmp_root="/tmp/balie-pg-$(id -u)-$key"

log() { echo "postgres.sh: $*" >&2; }
die() {
    log "$*"
    exit 1
}

usage() {
    echo "usage: $0 start|stop|url|status|wipe" >&2
    exit 2
}

# ---------------------------------------------------------------- locating things

# The root (parent of data/) of an initialized cluster, or nothing.
existing_root() {
    local root
    for root in "$in_repo_root" "$tmp_root"; do
        if [[ -f "$root/data/PG_VERSION" ]]; then
            echo "$root"
            return 0
        fi
    done
    return 1
}

find_bindir() {
    local dir candidate
    if [[ -n "${BALIE_PG_BINDIR:-}" ]]; then
        if [[ ! -x "$BALIE_PG_BINDIR/pg_ctl" || ! -x "$BALIE_PG_BINDIR/initdb" ]]; then
            log "BALIE_PG_BINDIR=$BALIE_PG_BINDIR has no pg_ctl/initdb"
            return 2
        fi
        echo "$BALIE_PG_BINDIR"
        return 0
    fi
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dir="$(dirname "$(readlink -f "$(command -v pg_ctl)")")"
        if [[ -x "$dir/initdb" && -x "$dir/postgres" ]]; then
            echo "$dir"
            return 0
        fi
    fi
    # Debian/Ubuntu keep the server binaries off PATH.
    while IFS= read -r candidate; do
        dir="$(dirname "$candidate")"
        if [[ -x "$dir/initdb" && -x "$dir/postgres" ]]; then
            echo "$dir"
            return 0
        fi
    done < <(printf '%s\n' /usr/lib/postgresql/*/bin/pg_ctl | sort -t/ -k5,5Vr)
    return 1
}

install_postgres() {
    if [[ $(id -u) -ne 0 ]]; then
        log "no PostgreSQL server binaries (initdb, pg_ctl) found on PATH or in /usr/lib/postgresql/*/bin,"
        log "and only root may install them. Install PostgreSQL (Debian: sudo apt-get install postgresql),"
        log "or point BALIE_PG_BINDIR at its bin directory."
        exit 3
    fi
    command -v apt-get >/dev/null 2>&1 \
        || { log "no PostgreSQL server binaries found and no apt-get to install them"; exit 3; }
    log "no PostgreSQL server binaries found: installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2 \
        || { log "apt-get install postgresql failed"; exit 3; }
}

# The OS user that runs the server.
server_user() {
    if [[ $(id -u) -ne 0 ]]; then
        id -un
    elif getent passwd postgres >/dev/null 2>&1; then
        echo postgres
    else
        if ! getent passwd balie-pg >/dev/null 2>&1; then
            log "creating system user balie-pg to run the test server"
            local nologin=/usr/sbin/nologin
            [[ -x $nologin ]] || nologin=/bin/false
            useradd --system --user-group --no-create-home --home-dir /nonexistent \
                --shell "$nologin" balie-pg >&2 \
                || die "could not create system user balie-pg"
        fi
        echo balie-pg
    fi
}

# Run a command as the server user ($pg_user), from / so a private cwd does not matter,
# and without the lock's descriptor (a server that inherited it would hold the lock forever).
as_pg() {
    if [[ $(id -u) -eq 0 && "$pg_user" != root ]]; then
        if command -v runuser >/dev/null 2>&1; then
            (cd / && runuser -u "$pg_user" -- "$@") 9>&-
        else
            (cd / && setpriv --reuid="$pg_user" --regid="$pg_user" --init-groups -- "$@") 9>&-
        fi
    else
        (cd / && "$@") 9>&-
    fi
}

# ------------------------------------------------------------------- the server

# PID of the postmaster serving data dir $1, if it is really running.
running_pid() {
    local data="$1" pid cwd comm
    [[ -f "$data/postmaster.pid" ]] || return 1
    pid="$(head -n1 "$data/postmaster.pid" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -d "/proc/$pid" ]] || return 1
    # The postmaster's cwd is its data dir; that tells a live server from a recycled PID.
    if cwd="$(readlink "/proc/$pid/cwd" 2>/dev/null)"; then
        [[ "$cwd" == "$(readlink -f "$data")" ]] || return 1
    else
        comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
        [[ "$comm" == postgres* ]] || return 1
    fi
    echo "$pid"
}

# Port of a running server (from postmaster.pid), else the remembered one.
cluster_port() {
    local data="$1" port=""
    if running_pid "$data" >/dev/null; then
        port="$(sed -n 4p "$data/postmaster.pid" 2>/dev/null || true)"
    fi
    if [[ ! "$port" =~ ^[0-9]+$ ]]; then
        port="$(cat "$data/balie.port" 2>/dev/null || true)"
    fi
    [[ "$port" =~ ^[0-9]+$ ]] || return 1
    echo "$port"
}

url_for_port() {
    echo "postgresql+asyncpg://$PG_SUPERUSER@127.0.0.1:$1/$PG_DATABASE"
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

choose_port() {
    local data="$1" port remembered
    if [[ -n "${BALIE_PG_PORT:-}" ]]; then
        port_free "$BALIE_PG_PORT" || die "BALIE_PG_PORT=$BALIE_PG_PORT is in use"
        echo "$BALIE_PG_PORT"
        return 0
    fi
    remembered="$(cat "$data/balie.port" 2>/dev/null || true)"
    if [[ "$remembered" =~ ^[0-9]+$ ]] && port_free "$remembered"; then
        echo "$remembered"
        return 0
    fi
    for ((port = DEFAULT_PORT; port < DEFAULT_PORT + 200; port++)); do
        if port_free "$port"; then
            echo "$port"
            return 0
        fi
    done
    die "no free port in $DEFAULT_PORT..$((DEFAULT_PORT + 199)) on 127.0.0.1"
}

# Can $pg_user create files in directory $1 (and reach it through its parents)?
pg_can_use() {
    # shellcheck disable=SC2016 # $1 is expanded by the inner sh
    as_pg sh -c 'test -d "$1" && test -w "$1" && test -x "$1"' sh "$1" 2>/dev/null
}

# Make directory $1 exist, owned by $pg_user, mode 700.
prepare_root() {
    local root="$1"
    if [[ -L "$root" ]]; then
        die "$root is a symlink; refusing to use it"
    fi
    mkdir -p "$root"
    if [[ $(id -u) -eq 0 ]]; then
        chown -R "$pg_user:" "$root"
    fi
    chmod 700 "$root"
}

# Choose (and create) the root for a new cluster.
new_root() {
    if prepare_root "$in_repo_root" 2>/dev/null && pg_can_use "$in_repo_root"; then
        echo "$in_repo_root"
        return 0
    fi
    log "user $pg_user cannot reach $in_repo_root (a parent directory is not traversable);"
    log "keeping the cluster in $tmp_root instead"
    if [[ -e "$tmp_root" && ! -O "$tmp_root" && $(id -u) -ne 0 ]]; then
        die "$tmp_root exists and belongs to someone else"
    fi
    prepare_root "$tmp_root"
    pg_can_use "$tmp_root" || die "user $pg_user cannot use $tmp_root either"
    echo "$tmp_root"
}

with_lock() {
    if command -v flock >/dev/null 2>&1; then
        exec 9>"/tmp/balie-pg-$(id -u)-$key.lock"
        flock -w 300 9 || die "timed out waiting for another postgres.sh on this repository"
    fi
}

cmd_start() {
    with_lock
    local root data port bindir major

    if root="$(existing_root)" && running_pid "$root/data" >/dev/null; then
        port="$(cluster_port "$root/data")"
        log "already running (data in $root/data)"
        url_for_port "$port"
        return 0
    fi

    local found=0
    bindir="$(find_bindir)" || found=$?
    if [[ $found -eq 2 ]]; then
        exit 3
    elif [[ $found -ne 0 ]]; then
        install_postgres
        bindir="$(find_bindir)" || die "PostgreSQL was installed but its binaries were not found"
    fi
    major="$("$bindir/postgres" --version | grep -oE '[0-9]+' | head -n1)"
    pg_user="$(server_user)"

    if root="$(existing_root)"; then
        data="$root/data"
        local have_major
        have_major="$(cat "$data/PG_VERSION")"
        if [[ "$have_major" != "$major" ]]; then
            log "existing cluster is PostgreSQL $have_major, binaries are $major: recreating it"
            rm -rf "$data"
            root=""
        elif [[ $(id -u) -eq 0 && "$(stat -c %U "$data")" != "$pg_user" ]]; then
            chown -R "$pg_user:" "$root"
        fi
        if [[ -n "$root" ]] && ! pg_can_use "$root"; then
            log "user $pg_user cannot reach $root any more: making a new cluster"
            root=""
        fi
    fi

    if [[ -z "${root:-}" ]]; then
        root="$(new_root)"
        data="$root/data"
        rm -rf "$data"
        log "initializing a PostgreSQL $major cluster in $data (server user: $pg_user)"
        as_pg "$bindir/initdb" --pgdata="$data" --username="$PG_SUPERUSER" --auth=trust \
            --encoding=UTF8 --locale=C --no-sync >"$root/initdb.log" 2>&1 \
            || { cat "$root/initdb.log" >&2; die "initdb failed"; }
        echo "include_if_exists = 'balie.conf'" >>"$data/postgresql.conf"
    fi

    # A postmaster.pid whose process is gone (crash, reboot, killed container).
    if [[ -f "$data/postmaster.pid" ]]; then
        log "removing stale $data/postmaster.pid"
        rm -f "$data/postmaster.pid"
    fi

    port="$(choose_port "$data")"
    echo "$port" >"$data/balie.port"
    cat >"$data/balie.conf" <<EOF
# Written by scripts/postgres.sh on every start: a throwaway test cluster.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
EOF
    if [[ $(id -u) -eq 0 ]]; then
        chown "$pg_user:" "$data/balie.port" "$data/balie.conf"
    fi

    log "starting PostgreSQL $major on 127.0.0.1:$port"
    if ! as_pg "$bindir/pg_ctl" --pgdata="$data" --log="$root/postgres.log" --wait \
        --timeout=60 start >/dev/null; then
        tail -n 30 "$root/postgres.log" >&2 || true
        die "pg_ctl start failed (log: $root/postgres.log)"
    fi

    local psql="$bindir/psql"
    [[ -x "$psql" ]] || psql="$(command -v psql)" || die "psql not found"
    local exists
    exists="$("$psql" -X -q -h 127.0.0.1 -p "$port" -U "$PG_SUPERUSER" -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")" \
        || die "cannot connect to the server just started (log: $root/postgres.log)"
    if [[ "$exists" != 1 ]]; then
        "$psql" -X -q -h 127.0.0.1 -p "$port" -U "$PG_SUPERUSER" -d postgres \
            -c "CREATE DATABASE $PG_DATABASE" >/dev/null \
            || die "could not create database $PG_DATABASE"
    fi
    url_for_port "$port"
}

cmd_stop() {
    with_lock
    local root data bindir
    if ! root="$(existing_root)"; then
        log "no cluster to stop"
        return 0
    fi
    data="$root/data"
    if ! running_pid "$data" >/dev/null; then
        if [[ -f "$data/postmaster.pid" ]]; then
            log "removing stale $data/postmaster.pid"
            rm -f "$data/postmaster.pid"
        fi
        log "not running"
        return 0
    fi
    pg_user="$(stat -c %U "$data")"
    bindir="$(find_bindir)" || die "PostgreSQL binaries not found; cannot run pg_ctl stop"
    as_pg "$bindir/pg_ctl" --pgdata="$data" --mode=fast --wait --timeout=60 stop >/dev/null \
        || die "pg_ctl stop failed"
    log "stopped"
}

cmd_url() {
    local root port
    if root="$(existing_root)" && running_pid "$root/data" >/dev/null \
        && port="$(cluster_port "$root/data")"; then
        url_for_port "$port"
        return 0
    fi
    log "the test server is not running: run scripts/postgres.sh start"
    return 1
}

cmd_status() {
    local root pid
    if root="$(existing_root)" && pid="$(running_pid "$root/data")"; then
        echo "running (pid $pid, data $root/data): $(url_for_port "$(cluster_port "$root/data")")"
        return 0
    fi
    echo "not running"
    return 1
}

cmd_wipe() {
    cmd_stop
    local root
    for root in "$in_repo_root" "$tmp_root"; do
        if [[ -d "$root" ]]; then
            rm -rf "$root"
            log "removed $root"
        fi
    done
}

pg_user=""
case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    url) cmd_url ;;
    status) cmd_status ;;
    wipe) cmd_wipe ;;
    *) usage ;;
esac
