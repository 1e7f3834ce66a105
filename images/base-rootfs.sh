#!/usr/bin/env bash
# Build the Debian 12 base root filesystem for one architecture with mmdebstrap (no registry needed).
#   images/base-rootfs.sh amd64|arm64 OUT.tar
#   ROOTFS_VARIANT=builder adds gcc and python3-dev (wheelhouse/tools/sdist.py builds sdists in it).
# Cached under $BUILD_CACHE/rootfs, keyed by the mmdebstrap arguments, so a rerun is instant;
# delete the cache to pick up Debian security updates. SOURCE_DATE_EPOCH makes mmdebstrap's output
# reproducible for the same package versions.
set -euo pipefail
arch=$1 out=$2
cache=${BUILD_CACHE:-/var/cache/gateway-build}/rootfs
variant=${ROOTFS_VARIANT:-base}
include=python3,python3-venv,tini,ca-certificates
[ "$variant" = builder ] && include=$include,build-essential,python3-dev
# python3 (3.11, the wheelhouse's target), python3-venv (ensurepip for the build stage), tini (PID 1).
# Docs, man pages, locales and apt lists are left out: nothing in the image reads them.
# The merged-usr hook lays out /usr itself, so the usrmerge package (and with it perl, ~35 MB)
# stays out of the image.
args=(--variant=minbase --architectures="$arch" --include="$include"
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*'
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*'
  --format=tar bookworm)
mirrors=("deb http://deb.debian.org/debian bookworm main"
  "deb http://deb.debian.org/debian bookworm-updates main"
  "deb http://deb.debian.org/debian-security bookworm-security main")
key=$(printf '%s\n' "${args[@]}" "${mirrors[@]}" | sha256sum | cut -c1-16)
cached=$cache/$variant-$arch-$key.tar
mkdir -p "$cache"
if [ ! -s "$cached" ]; then
  [ "$arch" = arm64 ] && "$(dirname "$0")/binfmt.sh"
  SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1704067200} mmdebstrap --quiet "${args[@]}" "$cached.tmp" "${mirrors[@]}"
  mv "$cached.tmp" "$cached"
  find "$cache" -maxdepth 1 -name "$variant-$arch-*.tar" ! -name "$(basename "$cached")" -delete
fi
cp --reflink=auto "$cached" "$out"
