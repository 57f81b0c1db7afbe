#!/usr/bin/env bash
# Balie's single test command (CI runs it through .ci/run).
#
#   1. scripts/setup.sh                   (.venv with Balie and its dev tools)
#   2. ruff check, ruff format --check, mypy, lint-imports (the layers in pyproject.toml)
#   3. scripts/postgres.sh start          -> BALIE_TEST_POSTGRES_URL
#      (skipped when BALIE_TEST_POSTGRES_URL is already set: that server is used as is)
#      On failure: with CI=true the run fails; otherwise a warning is printed, the
#      variable stays unset and the PostgreSQL tests skip.
#   4. scripts/redis.sh start             -> BALIE_TEST_REDIS_URL (the same rules as PostgreSQL)
#   5. scripts/slapd.sh start             -> BALIE_TEST_LDAP_* from `scripts/slapd.sh env`
#      (the same rules; the LDAP directory tests skip without it, outside CI)
#   6. scripts/scim.sh start              -> BALIE_TEST_SCIM_URL and BALIE_TEST_SCIM_TOKEN
#      (the same rules; the token is the one the server was started with)
#   7. python -m pytest "$@"             (arguments go to pytest)
#
# Exits non-zero as soon as a step fails. The PostgreSQL, Redis, slapd and SCIM servers are
# stopped on exit only when this script started them. Set BALIE_SKIP_LINT=1 to skip step 2
# (local use).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "setup"
bash scripts/setup.sh

if [[ -z "${BALIE_SKIP_LINT:-}" ]]; then
    step "ruff check"
    .venv/bin/ruff check .
    step "ruff format --check"
    .venv/bin/ruff format --check .
    step "mypy"
    .venv/bin/mypy
    step "lint-imports"
    .venv/bin/lint-imports
fi

step "postgres"
started_pg=""
started_redis=""
started_slapd=""
started_scim=""
stop_servers() {
    if [[ -n "$started_pg" ]]; then
        bash scripts/postgres.sh stop || true
    fi
    if [[ -n "$started_redis" ]]; then
        bash scripts/redis.sh stop || true
    fi
    if [[ -n "$started_slapd" ]]; then
        bash scripts/slapd.sh stop || true
    fi
    if [[ -n "$started_scim" ]]; then
        bash scripts/scim.sh stop || true
    fi
}
trap stop_servers EXIT

if [[ -n "${BALIE_TEST_POSTGRES_URL:-}" ]]; then
    export BALIE_TEST_POSTGRES_URL
    echo "using BALIE_TEST_POSTGRES_URL from the environment: $BALIE_TEST_POSTGRES_URL"
elif bash scripts/postgres.sh status >/dev/null 2>&1; then
    BALIE_TEST_POSTGRES_URL="$(bash scripts/postgres.sh url)"
    export BALIE_TEST_POSTGRES_URL
    echo "using the running test server: $BALIE_TEST_POSTGRES_URL"
else
    # Mark it as ours before starting, so that a start that fails half-way is cleaned up too.
    started_pg=1
    if pg_url="$(bash scripts/postgres.sh start)"; then
        BALIE_TEST_POSTGRES_URL="$(tail -n1 <<<"$pg_url")"
        export BALIE_TEST_POSTGRES_URL
        echo "started the test server: $BALIE_TEST_POSTGRES_URL"
    elif [[ "${CI:-}" == true ]]; then
        echo "ERROR: scripts/postgres.sh start failed, and CI=true: the PostgreSQL tests must run." >&2
        exit 1
    else
        unset BALIE_TEST_POSTGRES_URL
        echo "WARNING: could not start PostgreSQL (see above): the PostgreSQL tests will SKIP." >&2
    fi
fi

step "redis"
if [[ -n "${BALIE_TEST_REDIS_URL:-}" ]]; then
    export BALIE_TEST_REDIS_URL
    echo "using BALIE_TEST_REDIS_URL from the environment: $BALIE_TEST_REDIS_URL"
elif bash scripts/redis.sh status >/dev/null 2>&1; then
    BALIE_TEST_REDIS_URL="$(bash scripts/redis.sh url)"
    export BALIE_TEST_REDIS_URL
    echo "using the running test server: $BALIE_TEST_REDIS_URL"
else
    started_redis=1
    if redis_url="$(bash scripts/redis.sh start)"; then
        BALIE_TEST_REDIS_URL="$(tail -n1 <<<"$redis_url")"
        export BALIE_TEST_REDIS_URL
        echo "started the test server: $BALIE_TEST_REDIS_URL"
    elif [[ "${CI:-}" == true ]]; then
        echo "ERROR: scripts/redis.sh start failed, and CI=true: the Redis tests must run." >&2
        exit 1
    else
        unset BALIE_TEST_REDIS_URL
        echo "WARNING: could not start Redis (see above): the Redis tests will SKIP." >&2
    fi
fi

step "slapd"
if [[ -n "${BALIE_TEST_LDAP_URL:-}" ]]; then
    export BALIE_TEST_LDAP_URL BALIE_TEST_LDAPS_URL BALIE_TEST_LDAP_CA_FILE \
        BALIE_TEST_LDAP_BIND_DN BALIE_TEST_LDAP_BIND_PASSWORD BALIE_TEST_LDAP_USERS_DN
    echo "using BALIE_TEST_LDAP_URL from the environment: $BALIE_TEST_LDAP_URL"
elif bash scripts/slapd.sh status >/dev/null 2>&1; then
    eval "$(bash scripts/slapd.sh env)"
    echo "using the running test server: $BALIE_TEST_LDAP_URL"
else
    started_slapd=1
    if bash scripts/slapd.sh start >/dev/null && slapd_env="$(bash scripts/slapd.sh env)"; then
        eval "$slapd_env"
        echo "started the test server: $BALIE_TEST_LDAP_URL"
    elif [[ "${CI:-}" == true ]]; then
        echo "ERROR: scripts/slapd.sh start failed, and CI=true: the LDAP tests must run." >&2
        exit 1
    else
        unset BALIE_TEST_LDAP_URL
        echo "WARNING: could not start slapd (see above): the LDAP tests will SKIP." >&2
    fi
fi

step "scim"
if [[ -n "${BALIE_TEST_SCIM_URL:-}" ]]; then
    export BALIE_TEST_SCIM_URL BALIE_TEST_SCIM_TOKEN
    echo "using BALIE_TEST_SCIM_URL from the environment: $BALIE_TEST_SCIM_URL"
elif bash scripts/scim.sh status >/dev/null 2>&1; then
    eval "$(bash scripts/scim.sh env)"
    echo "using the running test server: $BALIE_TEST_SCIM_URL"
else
    started_scim=1
    if bash scripts/scim.sh start >/dev/null && scim_env="$(bash scripts/scim.sh env)"; then
        eval "$scim_env"
        echo "started the test server: $BALIE_TEST_SCIM_URL"
    elif [[ "${CI:-}" == true ]]; then
        echo "ERROR: scripts/scim.sh start failed, and CI=true: the SCIM tests must run." >&2
        exit 1
    else
        unset BALIE_TEST_SCIM_URL BALIE_TEST_SCIM_TOKEN
        echo "WARNING: could not start the SCIM server (see above): the SCIM tests will SKIP." >&2
    fi
fi

step "pytest"
.venv/bin/python -m pytest "$@"
