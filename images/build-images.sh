#!/usr/bin/env bash
# Build the gateway image for each architecture with buildah (no daemon, no registry) and write one
# OCI index archive:  images/build-images.sh [runtime|training]
#   ARCHES="amd64 arm64"  which architectures (arm64 runs under qemu-user-static)
#   OUT=dist/gateway-<version>-oci.tar
#   REVISION, SOURCE_URL, SOURCE_DATE_EPOCH  override the labels and timestamps (default: from git)
# The base image comes from images/base-rootfs.sh (mmdebstrap, cached) and is referenced by digest.
# Timestamps are fixed to SOURCE_DATE_EPOCH (default: the last commit's time) for reproducibility.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-runtime}
arches=${ARCHES:-amd64 arm64}
cache=${BUILD_CACHE:-/var/cache/gateway-build}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
revision=${REVISION:-$(git rev-parse HEAD)$(git diff --quiet HEAD -- gateway pyproject.toml wheelhouse images || echo -dirty)}
source_url=${SOURCE_URL:-$(git config --get remote.origin.url || echo unknown)}
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
name=gateway; [ "$target" = training ] && name=gateway-training
out=${OUT:-dist/$name-$version-oci.tar}
wh_prefix=linux; [ "$target" = training ] && wh_prefix=training-linux
export BUILDAH_ISOLATION=chroot  # crun/runc isolation fails on this host's hybrid cgroups

base_image() {  # import the cached rootfs once per content; print its reference by digest
  local arch=$1 tar="$cache/base-$1.tar"
  images/base-rootfs.sh "$arch" "$tar"
  # 'images-': bases committed before the move to images/ carry another --created-by; not reused
  local tag="localhost/gateway-base:images-bookworm-$arch-$(sha256sum "$tar" | cut -c1-12)"
  if ! buildah inspect --type image "$tag" >/dev/null 2>&1; then
    local c; c=$(buildah from --arch "$arch" scratch)
    buildah add --quiet "$c" "$tar" / >/dev/null
    buildah config --os linux --arch "$arch" --created-by "images/base-rootfs.sh (mmdebstrap bookworm)" "$c"
    buildah commit --quiet --rm --timestamp "$SOURCE_DATE_EPOCH" "$c" "$tag" >/dev/null
  fi
  echo "localhost/gateway-base@$(buildah inspect --type image --format '{{.FromImageDigest}}' "$tag")"
}

list="localhost/$name:$version"
buildah manifest rm "$list" >/dev/null 2>&1 || true
buildah manifest create "$list" >/dev/null
for arch in $arches; do
  wh=wheelhouse/dist/$wh_prefix-$arch
  [ -f "$wh/SHA256SUMS" ] || { echo "images: $wh is missing; run \`make wheelhouse\` first" >&2; exit 1; }
  # Refuse a wheelhouse with a missing, extra or altered file before spending minutes on a build.
  python3 wheelhouse/tools/fetch.py verify --set "$target" "linux-$arch"
  log=$cache/logs/build-$name-$arch.log; mkdir -p "$cache/logs"
  [ "$arch" = arm64 ] && images/binfmt.sh
  base=$(base_image "$arch")
  echo "images: $name $arch from $base"
  ctx=$(mktemp -d); trap 'rm -rf "$ctx"' EXIT
  mkdir -p "$ctx/wheelhouse/dist" && cp -al "$wh" "$ctx/$wh"
  start=$(date +%s)
  buildah rmi "localhost/$name:$version-$arch" >/dev/null 2>&1 || true  # last build's, else it piles up
  # --omit-history: the history names the intermediate stage's image ID, which differs per run.
  # --format docker keeps HEALTHCHECK in local storage; the archive is converted to OCI on push.
  buildah build --quiet --platform "linux/$arch" --timestamp "$SOURCE_DATE_EPOCH" --format docker \
    --omit-history \
    --target "$target" --build-arg BASE_IMAGE="$base" --build-arg VERSION="$version" \
    --build-arg REVISION="$revision" --build-arg SOURCE="$source_url" --build-arg CREATED="$created" \
    -f images/Containerfile -t "localhost/$name:$version-$arch" "$ctx" >"$log" 2>&1 \
    || { tail -n 40 "$log" >&2; echo "images: $name $arch failed; full log: $log" >&2; exit 1; }
  rm -rf "$ctx"; trap - EXIT
  echo "images: $name $arch built in $(( $(date +%s) - start )) s"
  buildah manifest add --arch "$arch" "$list" "containers-storage:localhost/$name:$version-$arch" >/dev/null
done
# Push to an OCI layout directory, then tar it with fixed order, owners and times: the archive
# itself is then as reproducible as the images in it (oci-archive: would stamp the current time).
layout=$(mktemp -d); trap 'rm -rf "$layout"' EXIT
buildah manifest push --quiet --all "$list" "oci:$layout:$name:$version"
mkdir -p "$(dirname "$out")"; rm -f "$out"
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner --format=gnu \
  -C "$layout" -cf "$out" oci-layout index.json blobs
digest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' \
  "$layout/index.json")
echo "images: wrote $out ($(du -h "$out" | cut -f1)); image index $digest"
