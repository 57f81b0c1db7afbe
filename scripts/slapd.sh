#!/usr/bin/env bash
# A throwaway OpenLDAP server (slapd) for Balie's LDAP directory tests.
#
#   scripts/slapd.sh start    start it; prints its ldap:// URL last on stdout
#   scripts/slapd.sh stop     stop it (no-op when it is not running)
#   scripts/slapd.sh url      print ldap://127.0.0.1:PORT (exit 1 when it is not running)
#   scripts/slapd.sh status   exit 0 when running (prints the URL), 1 when not
#   scripts/slapd.sh env      print the BALIE_TEST_LDAP_* variables as `export` lines
#
# Every start builds a new cn=config (slapadd from an LDIF written here, checked with
# slaptest) and a new database in .slapd/ in the repository (gitignored): base
# dc=balie,dc=test, ou=people for the accounts, a bind DN that may write there (not the
# rootdn, so the password policy applies to it), and the ppolicy overlay with a default
# policy (pwdMinLength 8, pwdInHistory 3, pwdCheckQuality 2, cleartext hashed). TLS uses a
# throwaway CA and a server certificate for 127.0.0.1 and localhost (made with openssl,
# kept across starts): StartTLS on the ldap:// port, 56389 or the next free one, and
# ldaps:// on 56636 or the next free one, both on 127.0.0.1 only. slapd comes from
# BALIE_SLAPD or PATH (or /usr/sbin); if there is none, root installs Debian's `slapd` and
# `ldap-utils` packages with apt-get (a non-root user gets exit 3 and an explanation).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd -P)/.slapd"
DEFAULT_PORT=56389
DEFAULT_LDAPS_PORT=56636
SUFFIX="dc=balie,dc=test"
USERS_DN="ou=people,$SUFFIX"
BIND_DN="cn=balie,ou=services,$SUFFIX"
BIND_PASSWORD="balie-test-bind"

log() { echo "slapd.sh: $*" >&2; }
die() {
    log "$*"
    exit 1
}

find_server() {
    if [[ -n "${BALIE_SLAPD:-}" ]]; then
        [[ -x "$BALIE_SLAPD" ]] || { log "BALIE_SLAPD=$BALIE_SLAPD is not executable"; return 2; }
        echo "$BALIE_SLAPD"
        return 0
    fi
    command -v slapd 2>/dev/null || { [[ -x /usr/sbin/slapd ]] && echo /usr/sbin/slapd; }
}

install_slapd() {
    if [[ $(id -u) -ne 0 ]]; then
        log "no slapd found on PATH or in /usr/sbin, and only root may install it."
        log "Install OpenLDAP (Debian: sudo apt-get install slapd ldap-utils), or set BALIE_SLAPD."
        exit 3
    fi
    command -v apt-get >/dev/null 2>&1 || { log "no slapd and no apt-get to install it"; exit 3; }
    log "no slapd found: installing Debian's slapd and ldap-utils packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # The package may start a system-wide server on 389: stopped below, ours is separate.
    apt-get install -y -qq --no-install-recommends slapd ldap-utils >&2 \
        || { log "apt-get install slapd ldap-utils failed"; exit 3; }
    if command -v service >/dev/null 2>&1; then service slapd stop >/dev/null 2>&1 || true; fi
}

running_pid() {
    local pid
    pid="$(cat "$root/slapd.pid" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ && -d "/proc/$pid" ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" == slapd* ]] || return 1
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

# A free port in $1..$1+199 other than $2.
free_port() {
    local port
    for ((port = $1; port < $1 + 200; port++)); do
        if [[ "$port" != "${2:-}" ]] && port_free "$port"; then
            echo "$port"
            return 0
        fi
    done
    die "no free port in $1..$(($1 + 199)) on 127.0.0.1"
}

url() { echo "ldap://127.0.0.1:$(cat "$root/slapd.port")"; }
ldaps_url() { echo "ldaps://127.0.0.1:$(cat "$root/slapd.ldaps-port")"; }

# The throwaway CA and the server certificate for 127.0.0.1 and localhost.
make_certificates() {
    local tls="$root/tls"
    [[ -s "$tls/ca.pem" && -s "$tls/server.pem" && -s "$tls/server.key" ]] && return 0
    command -v openssl >/dev/null 2>&1 || die "openssl is needed to make the test certificates"
    mkdir -p "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Balie test CA" \
        -keyout "$tls/ca.key" -out "$tls/ca.pem" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1 \
        || die "openssl could not make the test CA"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$tls/server.key" -out "$tls/server.csr" >/dev/null 2>&1 \
        || die "openssl could not make the server key"
    cat >"$tls/server.ext" <<'EOF'
subjectAltName = IP:127.0.0.1, DNS:localhost
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
        -CAcreateserial -days 3650 -extfile "$tls/server.ext" -out "$tls/server.pem" \
        >/dev/null 2>&1 || die "openssl could not sign the server certificate"
    chmod 600 "$tls/ca.key" "$tls/server.key"
}

write_config_ldif() {
    local modules="$1" schema="$2"
    cat <<EOF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $root/slapd.pid
olcArgsFile: $root/slapd.args
olcLogFile: $root/slapd.log
olcLogLevel: stats
olcTLSCACertificateFile: $root/tls/ca.pem
olcTLSCertificateFile: $root/tls/server.pem
olcTLSCertificateKeyFile: $root/tls/server.key

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: $modules
olcModuleLoad: back_mdb
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file://$schema/core.ldif

include: file://$schema/cosine.ldif

include: file://$schema/inetorgperson.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcPasswordHash: {SSHA}

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $SUFFIX
olcDbDirectory: $root/data
olcDbNoSync: TRUE
olcDbIndex: objectClass eq
olcDbIndex: uid,mail,employeeNumber eq
olcAccess: {0}to attrs=userPassword by dn.exact="$BIND_DN" write by self write by anonymous auth by * none
olcAccess: {1}to dn.subtree="$USERS_DN" by dn.exact="$BIND_DN" write by self read by * none
olcAccess: {2}to * by dn.exact="$BIND_DN" read by users read by * none

dn: olcOverlay={0}ppolicy,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {0}ppolicy
olcPPolicyDefault: cn=default,ou=policies,$SUFFIX
olcPPolicyHashCleartext: TRUE
olcPPolicyUseLockout: FALSE
EOF
}

write_data_ldif() {
    local bind_hash="$1"
    cat <<EOF
dn: $SUFFIX
objectClass: dcObject
objectClass: organization
dc: balie
o: Balie test directory

dn: $USERS_DN
objectClass: organizationalUnit
ou: people

dn: ou=services,$SUFFIX
objectClass: organizationalUnit
ou: services

dn: $BIND_DN
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: balie
description: The account Balie binds with
userPassword: $bind_hash

dn: ou=policies,$SUFFIX
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,$SUFFIX
objectClass: organizationalRole
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdMinLength: 8
pwdInHistory: 3
pwdCheckQuality: 2
pwdAllowUserChange: TRUE
pwdMustChange: FALSE
pwdSafeModify: FALSE
pwdLockout: TRUE
pwdMaxFailure: 0
EOF
}

# Answers a search of the root DSE on $1 (ldapsearch when ldap-utils is there, else a TCP connect).
answers() {
    if command -v ldapsearch >/dev/null 2>&1; then
        LDAPTLS_REQCERT=never ldapsearch -x -LLL -o nettimeout=2 -H "ldap://127.0.0.1:$1" \
            -b "" -s base namingContexts >/dev/null 2>&1
    else
        python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" 2>/dev/null
    fi
}

cmd_start() {
    local server bindir port ldaps_port found=0 bind_hash
    if running_pid >/dev/null; then
        log "already running"
        url
        return 0
    fi
    server="$(find_server)" || found=$?
    if [[ $found -eq 2 ]]; then
        exit 3
    elif [[ -z "${server:-}" ]]; then
        install_slapd
        server="$(find_server)" || die "slapd was installed but not found"
    fi
    bindir="$(dirname "$(readlink -f "$server")")"
    local modules="${BALIE_SLAPD_MODULES:-/usr/lib/ldap}" schema="${BALIE_SLAPD_SCHEMA:-/etc/ldap/schema}"
    [[ -f "$modules/ppolicy.la" || -f "$modules/ppolicy.so" ]] \
        || die "no ppolicy module in $modules (set BALIE_SLAPD_MODULES)"
    [[ -f "$schema/inetorgperson.ldif" ]] || die "no schema LDIFs in $schema (set BALIE_SLAPD_SCHEMA)"

    mkdir -p "$root"
    chmod 700 "$root"
    make_certificates
    rm -rf "$root/config" "$root/data" "$root/slapd.pid" "$root/slapd.log"
    mkdir -p "$root/config" "$root/data"

    write_config_ldif "$modules" "$schema" >"$root/config.ldif"
    "$bindir/slapadd" -n 0 -F "$root/config" -l "$root/config.ldif" >"$root/slapadd.log" 2>&1 \
        || { cat "$root/slapadd.log" >&2; die "slapadd of cn=config failed"; }
    bind_hash="$("$bindir/slappasswd" -h '{SSHA}' -s "$BIND_PASSWORD")" || die "slappasswd failed"
    write_data_ldif "$bind_hash" >"$root/data.ldif"
    "$bindir/slapadd" -F "$root/config" -b "$SUFFIX" -l "$root/data.ldif" >>"$root/slapadd.log" 2>&1 \
        || { cat "$root/slapadd.log" >&2; die "slapadd of $SUFFIX failed"; }
    "$bindir/slaptest" -Q -u -F "$root/config" >>"$root/slapadd.log" 2>&1 \
        || { cat "$root/slapadd.log" >&2; die "slaptest found the configuration broken"; }

    port="$(free_port "$DEFAULT_PORT")"
    ldaps_port="$(free_port "$DEFAULT_LDAPS_PORT" "$port")"
    echo "$port" >"$root/slapd.port"
    echo "$ldaps_port" >"$root/slapd.ldaps-port"
    log "starting $("$server" -VV 2>&1 | grep -oE 'slapd [0-9.]+' | head -n1) on 127.0.0.1:$port (ldaps $ldaps_port)"
    # Without the caller's descriptors: a daemon that kept a pipe open would hang $(...).
    (cd / && "$server" -F "$root/config" -h "ldap://127.0.0.1:$port/ ldaps://127.0.0.1:$ldaps_port/" \
        </dev/null >/dev/null 2>>"$root/slapd.log") \
        || { tail -n 20 "$root/slapd.log" >&2 || true; die "slapd did not start (log: $root/slapd.log)"; }
    for _ in $(seq 1 100); do
        if running_pid >/dev/null && answers "$port"; then
            url
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$root/slapd.log" >&2 || true
    die "slapd did not answer on 127.0.0.1:$port (log: $root/slapd.log)"
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
    running_pid >/dev/null || { log "the test server is not running: run scripts/slapd.sh start"; return 1; }
    url
}

cmd_status() {
    local pid
    if pid="$(running_pid)"; then
        echo "running (pid $pid): $(url) and $(ldaps_url)"
        return 0
    fi
    echo "not running"
    return 1
}

cmd_env() {
    running_pid >/dev/null || { log "the test server is not running: run scripts/slapd.sh start"; return 1; }
    printf 'export %s=%q\n' \
        BALIE_TEST_LDAP_URL "$(url)" \
        BALIE_TEST_LDAP_CA_FILE "$root/tls/ca.pem" \
        BALIE_TEST_LDAP_BIND_DN "$BIND_DN" \
        BALIE_TEST_LDAP_BIND_PASSWORD "$BIND_PASSWORD" \
        BALIE_TEST_LDAP_USERS_DN "$USERS_DN" \
        BALIE_TEST_LDAPS_URL "$(ldaps_url)"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    url) cmd_url ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *) echo "usage: $0 start|stop|url|status|env" >&2; exit 2 ;;
esac
