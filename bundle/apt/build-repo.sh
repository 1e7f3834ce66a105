#!/usr/bin/env bash
# Build a flat, offline apt repository with the appliance's Debian 12 packages for one architecture.
#   bundle/apt/build-repo.sh amd64|arm64 OUT_DIR      (PACKAGES=file overrides bundle/apt/packages.txt)
# Output: OUT_DIR/*.deb, Packages, Packages.gz, Release, SHA256SUMS; a node uses it with
#   deb [trusted=yes] file:/opt/apt ./
# The closure is resolved against an EMPTY dpkg status, so the repo is complete for any Debian 12
# base, however minimal. apt runs with a private configuration under $BUILD_CACHE/apt-cache/ARCH
# (lists, .deb cache, empty status, no host apt.conf.d hooks): the host's apt state and
# architectures are never touched. A rerun reuses the cached .debs; OFFLINE=1 (or a failed
# `apt-get update` with lists already cached) builds from the cached lists without a network.
set -euo pipefail
usage="usage: build-repo.sh amd64|arm64 OUT_DIR"
arch=${1:?$usage} out=$(realpath -m "${2:?$usage}")
case $arch in amd64 | arm64) ;; *) echo "build-repo: ARCH '$arch' is not amd64 or arm64" >&2; exit 2 ;; esac
packages_file=${PACKAGES:-$(dirname "$0")/packages.txt}
cache=${BUILD_CACHE:-/var/cache/gateway-build}/apt-cache/$arch
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
start=$SECONDS
for tool in dpkg-scanpackages apt-ftparchive; do
  command -v $tool >/dev/null || { echo "build-repo: $tool missing: install dpkg-dev apt-utils (make system-deps)" >&2; exit 2; }
done

# Refuse to replace a directory that is not one of ours: OUT_DIR is deleted and rebuilt.
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ] && [ ! -f "$out/SHA256SUMS" ]; then
  echo "build-repo: $out exists and is not an apt repo built by this script; remove it or pick another" >&2
  exit 2
fi

mkdir -p "$cache"/{etc/apt.conf.d,etc/preferences.d,etc/sources.list.d,state/lists/partial,archives/partial,log}
# apt downloads as _apt when it can (privilege separation), as it does for its own cache dirs.
id _apt >/dev/null 2>&1 && chown _apt:root "$cache/state/lists/partial" "$cache/archives/partial"
: >"$cache/state/status"

# The Debian 12 mirror this host already uses (deb822 or one-line sources): same mirror, main only.
apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' |
  awk -v k="$keyring" '$2 ~ /^bookworm(-updates|-security)?$/ && $3 == "main" {print "deb [signed-by=" k "] " $1 " " $2 " main"}' |
  sort -u >"$cache/etc/sources.list"
if [ ! -s "$cache/etc/sources.list" ]; then
  echo "build-repo: no Debian 12 (bookworm) main source in this host's apt sources; add one (e.g. deb.debian.org)" >&2
  exit 1
fi
# Keep a proxy the host's apt is configured with; everything else in /etc/apt stays out.
proxy=$(apt-config dump Acquire::http::Proxy Acquire::https::Proxy | grep -E '^Acquire::https?::Proxy ' || true)

# APT_CONFIG is read first, so its Dir::Etc::Parts keeps the host's apt.conf.d (docker-clean and
# packagekit hooks, pinning) out of this apt entirely.
cat >"$cache/etc/apt.conf" <<EOF
Dir::Etc::Parts "$cache/etc/apt.conf.d";
Dir::Etc::SourceList "$cache/etc/sources.list";
Dir::Etc::SourceParts "$cache/etc/sources.list.d";
Dir::Etc::Preferences "$cache/etc/preferences";
Dir::Etc::PreferencesParts "$cache/etc/preferences.d";
Dir::State "$cache/state";
Dir::State::status "$cache/state/status";
Dir::Cache "$cache";
Dir::Log "$cache/log";
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
Debug::NoLocking "true";
$proxy
EOF
export APT_CONFIG=$cache/etc/apt.conf

if [ "${OFFLINE:-0}" != 1 ] && ! apt-get update -qq; then
  ls "$cache"/state/lists/*_Packages* >/dev/null 2>&1 || { echo "build-repo: apt-get update failed and no cached lists" >&2; exit 1; }
  echo "build-repo: apt-get update failed; building from the cached lists in $cache/state/lists" >&2
fi

mapfile -t wanted < <(sed 's/#.*//' "$packages_file" | tr -s ' \t' '\n' | sed '/^$/d')
# The closure against the empty status: "Inst NAME (VERSION SUITES [ARCH])" per package, sometimes
# followed by " []" (apt's ordering note, e.g. for libc6).
sim=$(apt-get install -s -qq "${wanted[@]}")
mapfile -t closure < <(printf '%s\n' "$sim" |
  sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) [^[]*\[\([a-z0-9]*\)\])\( \[.*\]\)\{0,1\}$/\1 \2 \3/p' | sort)
n_inst=$(printf '%s\n' "$sim" | grep -c '^Inst ')
[ "$n_inst" = ${#closure[@]} ] || { echo "build-repo: parsed ${#closure[@]} of $n_inst 'Inst' lines" >&2; exit 1; }
[ ${#closure[@]} -gt 0 ] || { echo "build-repo: resolved no packages from $packages_file" >&2; exit 1; }
apt-get install --download-only -y -qq "${wanted[@]}" >/dev/null

rm -rf "$out.tmp" && mkdir -p "$out.tmp"
for entry in "${closure[@]}"; do
  read -r name version parch <<<"$entry"
  cached=$cache/archives/${name}_${version//:/%3a}_${parch}.deb
  [ -f "$cached" ] || { echo "build-repo: $name $version ($parch) was not downloaded: $cached missing" >&2; exit 1; }
  # Debian's pool naming (no epoch), so file: URLs need no escaping. A hard link when the cache is
  # on the same file system (apt re-checks cached .debs against the index before reusing them).
  deb=$out.tmp/${name}_${version#*:}_${parch}.deb
  ln -f "$cached" "$deb" 2>/dev/null || cp "$cached" "$deb"
done

# Indexes carry no timestamps (gzip -n, a fixed Release date): same packages, same bytes.
date=$(LC_ALL=C date -u -d "@${SOURCE_DATE_EPOCH:-1704067200}" '+%a, %d %b %Y %H:%M:%S UTC')
(
  cd "$out.tmp"
  dpkg-scanpackages --arch "$arch" . /dev/null 2>/dev/null >Packages
  gzip -9n <Packages >Packages.gz
  apt-ftparchive -o APT::FTPArchive::Release::Origin=gateway-appliance \
    -o APT::FTPArchive::Release::Label="gateway appliance offline packages" \
    -o APT::FTPArchive::Release::Codename=bookworm -o APT::FTPArchive::Release::Architectures="$arch" \
    -o APT::FTPArchive::Release::Date="$date" release . >"$out.Release.tmp"
  mv "$out.Release.tmp" Release
  LC_ALL=C sha256sum -- *.deb Packages Packages.gz Release | LC_ALL=C sort -k2 >SHA256SUMS
)
rm -rf "$out" && mv "$out.tmp" "$out"
echo "apt repo linux-$arch: ${#closure[@]} packages, $(du -sh "$out" | cut -f1) in $out ($((SECONDS - start)) s)"
