#!/usr/bin/env bash
# Build PostgreSQL's own regression-test driver (pg_regress + regress.so and the
# contrib/spi modules its schedule loads) from the Debian source of the server's
# major version, and run the regression schedule against a running server so
# that the database "regression" is left behind holding every kind of object
# (what `make installcheck` leaves).
#
# Usage:
#   regress-db.sh build [--bindir DIR]
#   regress-db.sh run   [--bindir DIR] --host H --port N --user U
#                       [--dbname regression] [--outdir DIR]
#                       [--max-connections N] [-- EXTRA pg_regress ARGS]
#   regress-db.sh dir   [--bindir DIR]     # print the built test directory
#
#   --bindir  the server's bin dir (postgres, psql); default: `pg_config --bindir`
#             from PATH.  Its major version picks the source.
#   run reads the password from PGPASSWORD.  It builds first if needed.
#
# Environment:
#   SUPABACKUP_REGRESS_CACHE  cache root (default /var/cache/supabackup-regress);
#                             the build lands in <cache>/<major>/.
#   SUPABACKUP_DEBIAN_MIRROR  default http://deb.debian.org/debian
#   SUPABACKUP_DEBIAN_SECURITY_MIRROR  default http://deb.debian.org/debian-security
#
# Source: `apt-get source postgresql-<major>` (the server's exact Debian version
# when it is a Debian build and still in the archive, else the newest one).  The
# deb-src lists live in a private apt state under the cache (the machine's own
# sources and lists are not touched), covering this release's suites plus
# trixie and sid (deb-src only, so no binaries ever come from them):
# postgresql-15 is in bookworm, -17 in trixie, -18 in sid; -16 is in none.
#
# The server (OS user postgres) reads regress.so, refint.so, autoinc.so and the
# data files from the cache and writes into <outdir>/results, so the cache is
# made world-readable and results/ world-writable.
set -euo pipefail

CACHE_ROOT=${SUPABACKUP_REGRESS_CACHE:-/var/cache/supabackup-regress}
MIRROR=${SUPABACKUP_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SEC_MIRROR=${SUPABACKUP_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

die() { echo "regress-db: $*" >&2; exit 1; }
log() { echo "regress-db: $*" >&2; }
now() { date +%s; }

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

cmd=${1:-}
[ -n "$cmd" ] || { usage >&2; exit 2; }
shift

BINDIR="" HOST="" PORT="" PGU="" DBNAME=regression OUTDIR="" MAXCONN=""
EXTRA=()
while [ $# -gt 0 ]; do
    case "$1" in
        --bindir) BINDIR=$2; shift 2 ;;
        --bindir=*) BINDIR=${1#*=}; shift ;;
        --host) HOST=$2; shift 2 ;;
        --host=*) HOST=${1#*=}; shift ;;
        --port) PORT=$2; shift 2 ;;
        --port=*) PORT=${1#*=}; shift ;;
        --user) PGU=$2; shift 2 ;;
        --user=*) PGU=${1#*=}; shift ;;
        --dbname) DBNAME=$2; shift 2 ;;
        --dbname=*) DBNAME=${1#*=}; shift ;;
        --outdir) OUTDIR=$2; shift 2 ;;
        --outdir=*) OUTDIR=${1#*=}; shift ;;
        --max-connections) MAXCONN=$2; shift 2 ;;
        --max-connections=*) MAXCONN=${1#*=}; shift ;;
        --) shift; EXTRA=("$@"); break ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
done

if [ -z "$BINDIR" ]; then
    command -v pg_config >/dev/null 2>&1 || die "no --bindir and no pg_config in PATH"
    BINDIR=$(pg_config --bindir)
fi
BINDIR=$(cd "$BINDIR" && pwd -P)

# "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" -> 15, 15.18, 15.18-0+deb12u1
version_line() {
    local b
    for b in postgres pg_config psql; do
        if [ -x "$BINDIR/$b" ]; then "$BINDIR/$b" --version; return; fi
    done
    die "no postgres/pg_config/psql in $BINDIR"
}
VLINE=$(version_line)
PGVER=$(sed -E 's/^[^0-9]*([0-9]+(\.[0-9]+)?).*/\1/' <<<"$VLINE")
MAJOR=${PGVER%%.*}
DEBVER=$(sed -nE 's/.*\(Debian ([^)]+)\).*/\1/p' <<<"$VLINE")
[ "$MAJOR" -ge 15 ] 2>/dev/null || die "PostgreSQL $PGVER: only 15 and later are supported (earlier schedules need a server-owned tablespace directory)"

CACHE="$CACHE_ROOT/$MAJOR"
SRC="$CACHE/src"
TESTDIR="$SRC/src/test/regress"
STAMP="$CACHE/.built"

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

install_build_deps() {
    local need=()
    command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
    command -v make >/dev/null 2>&1 || need+=(make)
    command -v dpkg-source >/dev/null 2>&1 || need+=(dpkg-dev)
    command -v bzip2 >/dev/null 2>&1 || need+=(bzip2)
    command -v xz >/dev/null 2>&1 || need+=(xz-utils)
    # 15 and 16 tarballs ship the generated parser/catalog files; 17+ do not.
    if [ "$MAJOR" -ge 17 ]; then
        command -v bison >/dev/null 2>&1 || need+=(bison)
        command -v flex >/dev/null 2>&1 || need+=(flex)
        perl -MFindBin -MGetopt::Long -e1 >/dev/null 2>&1 || need+=(perl)
    fi
    if [ ${#need[@]} -gt 0 ]; then
        log "installing build deps: ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get update -qq
        $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
}

# A private apt state holding only deb-src lists.
APTDIR="$CACHE_ROOT/apt"
APT_OPTS=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$APTDIR/sources.list.d"
          -o "Dir::State::Lists=$APTDIR/lists" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
          -o "APT::Sandbox::User=root" -o "Acquire::Languages=none")
apt_src_update() {
    local codename suites sec
    codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
    suites="" sec=""
    if [ -n "$codename" ] && [ "$codename" != trixie ] && [ "$codename" != sid ]; then
        suites="$codename $codename-updates"; sec="$codename-security"
    fi
    suites="$suites trixie trixie-updates sid"; sec="$sec trixie-security"
    mkdir -p "$APTDIR/sources.list.d" "$APTDIR/lists/partial"
    cat >"$APTDIR/sources.list.d/deb-src.sources" <<EOF
Types: deb-src
URIs: $MIRROR
Suites: $suites
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: $SEC_MIRROR
Suites: $sec
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # One unreachable or unverifiable suite must not stop the others.
    apt-get "${APT_OPTS[@]}" update -qq >&2 || log "apt-get update reported errors (continuing)"
}

fetch_source() {
    [ -f "$SRC/configure" ] && return 0
    local pkg="postgresql-$MAJOR" dl="$CACHE/dl"
    apt_src_update
    rm -rf "$dl"; mkdir -p "$dl"
    local srcs v ok=""
    srcs=$(apt-cache "${APT_OPTS[@]}" showsrc "$pkg" 2>/dev/null || true)
    grep -q '^Package:' <<<"$srcs" || die "no deb-src for $pkg in this release, trixie or sid ($MIRROR)"
    # The server's exact Debian version first, then the others newest first
    # (a mirror may list a version whose files it does not serve).
    local versions=()
    mapfile -t versions < <({ [ -n "$DEBVER" ] && grep -qx "Version: $DEBVER" <<<"$srcs" && echo "$DEBVER"
                              sed -n 's/^Version: //p' <<<"$srcs" | sort -Vru; } | awk '!seen[$0]++')
    [ -n "$DEBVER" ] && [ "${versions[0]}" != "$DEBVER" ] \
        && log "source $DEBVER not listed; trying ${versions[*]}"
    : >"$CACHE/source.log"
    for v in "${versions[@]}"; do
        log "apt-get source $pkg=$v"
        if (cd "$dl" && apt-get "${APT_OPTS[@]}" source -qq "$pkg=$v" >>"$CACHE/source.log" 2>&1); then
            ok=1; break
        fi
        log "  failed: $(grep -m1 '^E:' "$CACHE/source.log" || true)"
        rm -rf "${dl:?}"/*
    done
    [ -n "$ok" ] || die "could not fetch any of: ${versions[*]} (log: $CACHE/source.log)"
    local d
    d=$(find "$dl" -mindepth 1 -maxdepth 1 -type d -name "$pkg-*" | head -n1)
    [ -n "$d" ] && [ -f "$d/configure" ] || die "source unpack failed in $dl"
    rm -rf "$SRC"; mv "$d" "$SRC"
    rm -rf "$dl" "$APTDIR/lists"   # ~70 MB of Sources indexes, refetched when needed
}

# Options of the server's own configure that change the module ABI or sizes.
# shellcheck disable=SC2120  # "$@" is reset from pg_config --configure
server_configure_opts() {
    local pgc="$BINDIR/pg_config" o
    [ -x "$pgc" ] || return 0
    eval "set -- $("$pgc" --configure 2>/dev/null || true)"
    for o in "$@"; do
        case "$o" in
            --with-blocksize=*|--with-wal-blocksize=*|--with-segsize=*|--disable-float8-byval|--enable-cassert|--with-pgport=*)
                printf '%s\n' "$o" ;;
        esac
    done
}

# The modules the schedule's SQL loads from --dlpath (":libdir '/regress' :dlsuffix").
required_libs() {
    sed -n "s/.*:libdir '\/\([A-Za-z0-9_]*\)' :dlsuffix.*/\1.so/p" "$TESTDIR"/sql/*.sql | sort -u
}

do_build() {
    mkdir -p "$CACHE_ROOT"; chmod 0755 "$CACHE_ROOT"
    mkdir -p "$CACHE"
    # Concurrent callers (parallel tests) wait for one build.
    ( flock 9; build_locked ) 9>"$CACHE.lock"
}

build_locked() {
    if [ -f "$STAMP" ] && [ -x "$TESTDIR/pg_regress" ]; then
        local f missing=""
        for f in $(required_libs); do [ -f "$TESTDIR/$f" ] || missing=1; done
        if [ -z "$missing" ]; then
            log "already built: $(cat "$STAMP")"
            return 0
        fi
    fi
    local t0 t1
    t0=$(now); install_build_deps; t1=$(now); log "deps: $((t1 - t0))s"
    t0=$(now); fetch_source; t1=$(now); log "source: $((t1 - t0))s"
    if [ ! -f "$SRC/config.status" ] || [ ! -f "$SRC/src/Makefile.global" ]; then
        local opts=()
        mapfile -t opts < <(server_configure_opts)
        t0=$(now)
        log "configure ${opts[*]}"
        (cd "$SRC" && ./configure -q --without-readline --without-zlib --without-icu \
            --without-llvm --without-openssl --without-ldap --without-gssapi \
            --disable-nls --disable-rpath "${opts[@]}" >"$CACHE/configure.log" 2>&1) \
            || { tail -n 30 "$CACHE/configure.log" >&2; die "configure failed (log: $CACHE/configure.log)"; }
        t1=$(now); log "configure: $((t1 - t0))s"
    fi
    t0=$(now)
    : >"$CACHE/make.log"
    # 17+: pg_regress links libpq, and its makefile does not build it first.
    if grep -q 'libpq' "$TESTDIR/GNUmakefile"; then
        make -C "$SRC/src/interfaces/libpq" -j"$(nproc)" >>"$CACHE/make.log" 2>&1 \
            || { tail -n 30 "$CACHE/make.log" >&2; die "make libpq failed (log: $CACHE/make.log)"; }
    fi
    # Builds pg_regress, regress.so and (15, 16) contrib/spi's refint.so and autoinc.so.
    make -C "$TESTDIR" -j"$(nproc)" >>"$CACHE/make.log" 2>&1 \
        || { tail -n 30 "$CACHE/make.log" >&2; die "make failed (log: $CACHE/make.log)"; }
    t1=$(now); log "make: $((t1 - t0))s"
    for f in pg_regress parallel_schedule $(required_libs); do
        [ -e "$TESTDIR/$f" ] || die "missing after build: $TESTDIR/$f"
    done
    # The server runs as another OS user and reads the modules and data files.
    chmod -R a+rX "$CACHE"
    local srcver
    srcver=$(cd "$SRC" && dpkg-parsechangelog -SVersion 2>/dev/null || echo "?")
    echo "postgresql-$MAJOR source $srcver for server $PGVER${DEBVER:+ ($DEBVER)}" >"$STAMP"
    log "built: $(cat "$STAMP") in $TESTDIR"
}

psql_srv() {
    "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U "$PGU" "$@"
}

do_run() {
    [ -n "$HOST" ] && [ -n "$PORT" ] && [ -n "$PGU" ] || die "run needs --host, --port and --user"
    do_build
    if [ -z "$OUTDIR" ]; then
        OUTDIR=$(mktemp -d "${TMPDIR:-/tmp}/supabackup-regress-run.XXXXXX")
    fi
    mkdir -p "$OUTDIR/results"
    chmod 0755 "$OUTDIR"
    # COPY TO / lo_export in the tests write here as the server's OS user.
    chmod 1777 "$OUTDIR/results"

    # Fail early and clearly if the server is unreachable or cannot load the module.
    psql_srv -d postgres -c "SELECT 1" >/dev/null \
        || die "cannot connect to $HOST:$PORT as $PGU (password from PGPASSWORD)"
    psql_srv -d postgres -c "LOAD '$TESTDIR/regress.so'" \
        || die "the server cannot load $TESTDIR/regress.so (ABI mismatch, or not readable by its OS user?)"

    local args=(--inputdir="$TESTDIR" --outputdir="$OUTDIR" --bindir="$BINDIR"
                --dlpath="$TESTDIR" --host="$HOST" --port="$PORT" --user="$PGU"
                --dbname="$DBNAME" --no-locale --encoding=UTF8
                --schedule="$TESTDIR/parallel_schedule" --max-concurrent-tests=20)
    [ -n "$MAXCONN" ] && args+=(--max-connections="$MAXCONN")
    local t0 t1 rc=0
    t0=$(now)
    log "pg_regress ${args[*]} ${EXTRA[*]}"
    # 17+: pg_regress uses the libpq built beside it.
    local ldp=${LD_LIBRARY_PATH:-}
    [ -e "$SRC/src/interfaces/libpq/libpq.so.5" ] && ldp="$SRC/src/interfaces/libpq${ldp:+:$ldp}"
    LD_LIBRARY_PATH=$ldp "$TESTDIR/pg_regress" "${args[@]}" "${EXTRA[@]}" >"$OUTDIR/pg_regress.log" 2>&1 || rc=$?
    t1=$(now)
    cat "$OUTDIR/pg_regress.log"

    # Per-test lines: 15 prints "name ... ok|FAILED|failed (ignored)",
    # 16+ prints TAP "ok N - name" / "not ok N - name".
    local ok bad
    ok=$(grep -cE '\.\.\. ok |^ok [0-9]+ ' "$OUTDIR/pg_regress.log" || true)
    bad=$(grep -cE '\.\.\. (FAILED|failed \(ignored\))|^not ok [0-9]+ ' "$OUTDIR/pg_regress.log" || true)
    # (worded so that CI's result-line reader does not take it for a test run)
    echo "regress-db: schedule took $((t1 - t0))s, pg_regress exit $rc; tests ok=$ok differing=$bad; diffs: $OUTDIR/regression.diffs"

    local exists rels
    exists=$(psql_srv -d postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = '$DBNAME'")
    [ "$exists" = 1 ] || die "database $DBNAME was not left behind"
    rels=$(psql_srv -d "$DBNAME" -Atc "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'")
    echo "regress-db: database $DBNAME left behind with $rels relations"
    [ "$rels" -ge 100 ] || die "database $DBNAME looks unpopulated ($rels relations)"
}

case "$cmd" in
    build) do_build ;;
    run) do_run ;;
    dir) echo "$TESTDIR" ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
esac
