#!/usr/bin/env bash
# A real S3-protocol server on 127.0.0.1 for tests: s3s-fs (crates.io), which
# stores objects as plain files under a folder, checks AWS SigV4 signatures
# and access keys, and rejects requests more than 15 min off the server clock.
#
#   .ci/s3-server.sh install
#       Idempotent. Builds s3s-fs from crates.io with cargo (about 4-8 min on
#       2 cores the first time; skipped when the right version is already
#       installed). Prints how long it took.
#
#   .ci/s3-server.sh start --port N --dir D [--host H] [--access-key K --secret-key S] [--no-auth] [--bucket B]...
#       Runs in the FOREGROUND (exec: the spawned PID is s3s-fs itself, so a
#       test harness can kill it directly). D is created if missing; every
#       --bucket B is created as the folder D/B (a bucket is a folder of D).
#       Keys default to test-access-key / test-secret-key. --no-auth starts it
#       without keys: it then answers every SIGNED request with 501
#       NotImplemented ("This service has no authentication provider"), so
#       only unsigned clients (object_store: with_skip_signature(true)) work.
#       --port 0 picks a free port; the real one is in the readiness line.
#       Prints, on stdout, once listening:
#           ... INFO s3s_fs: server is running at http://127.0.0.1:PORT
#       SIGINT: graceful stop (up to 10 s); SIGTERM/SIGKILL: immediate.
#
#   .ci/s3-server.sh bin
#       Prints the path of the s3s-fs binary (after install).
#
# Readiness: wait for the "server is running at" line on stdout, or poll a TCP
# connect to 127.0.0.1:PORT (an HTTP GET / then answers 403 AccessDenied when
# keys are set). Startup takes well under a second.
#
# Environment: S3S_FS_ROOT (install root, default ~/.cargo; binary in
# $S3S_FS_ROOT/bin), S3S_FS_TARGET_DIR (build folder kept between tries,
# default ${TMPDIR:-/tmp}/s3s-fs-build), RUST_LOG (default s3s_fs=info).
set -euo pipefail

# s3s-fs 0.15+ needs rustc >= 1.96; 0.14.1 is the newest that builds on 1.95.
S3S_FS_VERSION="0.14.1"
ROOT="${S3S_FS_ROOT:-${CARGO_HOME:-$HOME/.cargo}}"
BIN="$ROOT/bin/s3s-fs"

die() { echo "s3-server.sh: $*" >&2; exit 2; }

installed_ok() {
    [ -x "$BIN" ] && [ "$("$BIN" --version 2>/dev/null)" = "s3s-fs $S3S_FS_VERSION" ]
}

cmd_install() {
    local start end
    start=$(date +%s)
    if installed_ok; then
        echo "s3s-fs $S3S_FS_VERSION already installed at $BIN (0 s)"
        return 0
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo not found"
    cargo install "s3s-fs@$S3S_FS_VERSION" --features binary --locked --force \
        --root "$ROOT" \
        --target-dir "${S3S_FS_TARGET_DIR:-${TMPDIR:-/tmp}/s3s-fs-build}"
    installed_ok || die "install finished but $BIN does not report s3s-fs $S3S_FS_VERSION"
    end=$(date +%s)
    echo "s3s-fs $S3S_FS_VERSION installed at $BIN in $((end - start)) s"
}

cmd_start() {
    local port="" dir="" host="127.0.0.1" ak="test-access-key" sk="test-secret-key" auth=1
    local buckets=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --port) port="${2:?--port needs a value}"; shift 2 ;;
            --dir) dir="${2:?--dir needs a value}"; shift 2 ;;
            --host) host="${2:?--host needs a value}"; shift 2 ;;
            --access-key) ak="${2:?--access-key needs a value}"; shift 2 ;;
            --secret-key) sk="${2:?--secret-key needs a value}"; shift 2 ;;
            --no-auth) auth=0; shift ;;
            --bucket) buckets+=("${2:?--bucket needs a value}"); shift 2 ;;
            *) die "start: unknown argument '$1'" ;;
        esac
    done
    [ -n "$port" ] || die "start: --port is required"
    [ -n "$dir" ] || die "start: --dir is required"
    if [ "$auth" = 1 ] && { [ -z "$ak" ] || [ -z "$sk" ]; }; then
        die "start: empty --access-key/--secret-key (use --no-auth for an anonymous server)"
    fi
    installed_ok || die "s3s-fs $S3S_FS_VERSION is not installed: run '$0 install' first"
    mkdir -p "$dir"
    local b
    for b in "${buckets[@]}"; do
        # S3 bucket names: 3-63 chars of a-z 0-9 . - ; s3s-fs rejects others.
        [[ "$b" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || die "start: invalid bucket name '$b'"
        mkdir -p "$dir/$b"
    done
    local args=(--host "$host" --port "$port")
    if [ "$auth" = 1 ]; then
        args+=(--access-key "$ak" --secret-key "$sk")
    fi
    export RUST_LOG="${RUST_LOG:-s3s_fs=info}"
    exec "$BIN" "${args[@]}" "$dir"
}

case "${1:-}" in
    install) shift; cmd_install "$@" ;;
    start) shift; cmd_start "$@" ;;
    bin) echo "$BIN" ;;
    *) echo "usage: $0 install | start --port N --dir D [--host H] [--access-key K --secret-key S] [--no-auth] [--bucket B]... | bin" >&2; exit 2 ;;
esac
