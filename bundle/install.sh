#!/usr/bin/env bash
# Verify a gateway-appliance bundle, then install it with Ansible (docs/moat-mode.md).
# Needs bash, coreutils, findutils, openssl, tar and zstd (a minimal Debian 12 host); verifying needs
# no Python. Installing creates the Ansible controller's venv from the bundle with python3.
set -euo pipefail
umask 022

usage() {
  cat <<'EOF'
usage:
  install.sh verify  --pubkey KEY.pem [--staging DIR] [--keep] [BUNDLE.tar.zst | BUNDLE_DIR]
  install.sh install --pubkey KEY.pem -i INVENTORY [--manifest-dir DIR] [--staging DIR]
                     [BUNDLE.tar.zst | BUNDLE_DIR] [-- EXTRA ANSIBLE-PLAYBOOK ARGS]
  install.sh --help

verify   Unpacks a .tar.zst into a new directory under --staging (default $TMPDIR or /var/tmp; removed
         afterwards unless --keep), refusing absolute paths, '..' and links. Then checks, in order:
         the Ed25519 signature SHA256SUMS.sig over SHA256SUMS with KEY.pem (the public key carried
         separately: compare its fingerprint, printed here, with the one received out of band), that
         no listed file is missing and no file or directory is unlisted, and every file's sha256.
         Any failure names the file (or "bad signature") and exits 1.
         Without BUNDLE, the directory holding this script is verified.
install  The same verification first; nothing is changed before it passes. A .tar.zst is unpacked to
         --staging (default /opt/appliance/bundles)/<name>-<version>. Then the Ansible controller venv
         ${ANSIBLE_VENV:-/opt/appliance/ansible-venv} is made offline from the bundle's
         ansible-wheelhouse/linux-<arch>/ (skipped when it already matches the lock; without that
         wheelhouse, ansible-playbook from PATH is used), and runs
           ansible-playbook -i INVENTORY <bundle>/ansible/site.yml -e appliance_bundle_dir=<bundle>
             [-e appliance_dir=DIR] EXTRA...
         --manifest-dir DIR: the output of `gateway appliance generate` (else the inventory's appliance_dir).
EOF
}

say() { printf 'install.sh: %s\n' "$*"; }
fail() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
cleanup=()
trap 'rm -rf "${cleanup[@]}"' EXIT
SELF_DIR=$(cd "$(dirname "$0")" && pwd)

need() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || fail "$t not found; install it (Debian 12: coreutils, findutils, openssl, tar, zstd)"
  done
}

# unpack TARBALL ROOT: refuse unsafe members, extract into a new directory under ROOT.
# Sets UNPACK_TMP (the new directory), BUNDLE_TOP (the top directory's name) and BUNDLE_DIR.
unpack() {
  local tb=$1 root=$2 names name first bad errors
  need tar zstd
  { [ -f "$tb" ] && [ -r "$tb" ]; } || fail "$tb: cannot read the bundle"
  # -P lists names as stored: a leading '/' is shown, not stripped with a warning.
  errors=$(mktemp)
  cleanup+=("$errors")
  names=$(tar -P --zstd -tf "$tb" 2>"$errors") || fail "$tb: not a readable .tar.zst: $(sed -n '$p' "$errors")"
  BUNDLE_TOP=""
  while IFS= read -r name; do
    case "$name" in
      /*) fail "$tb: member '$name' has an absolute path; refused" ;;
    esac
    case "/$name/" in
      */../*) fail "$tb: member '$name' contains '..'; refused" ;;
    esac
    first=${name%%/*}
    if [ -z "$BUNDLE_TOP" ]; then
      BUNDLE_TOP=$first
    elif [ "$first" != "$BUNDLE_TOP" ]; then
      fail "$tb: member '$name' is outside the top directory '$BUNDLE_TOP'; refused"
    fi
  done <<<"$names"
  case "$BUNDLE_TOP" in
    "" | . | ..) fail "$tb: no top directory <name>-<version>/; refused" ;;
  esac
  # Only files and directories: a symbolic or hard link could point outside the staging directory.
  bad=$(tar -P --zstd -tvf "$tb" | awk '!found && substr($0, 1, 1) != "-" && substr($0, 1, 1) != "d" { print; found = 1 }')
  [ -z "$bad" ] || fail "$tb: holds a link or special file, refused: $bad"
  mkdir -p "$root"
  UNPACK_TMP=$(mktemp -d "$root/.unpack.XXXXXX")
  cleanup+=("$UNPACK_TMP")
  tar --zstd -xf "$tb" -C "$UNPACK_TMP" --no-same-owner || fail "$tb: unpacking into $UNPACK_TMP failed"
  BUNDLE_DIR=$UNPACK_TMP/$BUNDLE_TOP
}

# verify_dir DIR KEY: signature, then completeness (nothing missing, nothing extra), then hashes.
verify_dir() {
  local dir=$1 key=$2 work text fp bad problems=0 n
  need openssl sha256sum find sort comm awk sed
  [ -f "$key" ] || fail "$key: public key not found"
  text=$(openssl pkey -pubin -in "$key" -noout -text 2>/dev/null) || text=""
  case "$text" in
    "ED25519 Public-Key"*) ;;
    *) fail "$key: not an Ed25519 public key in PEM form (the <name>-<version>.pub.pem made with the bundle)" ;;
  esac
  fp=$(openssl pkey -pubin -in "$key" -outform DER | sha256sum | cut -d' ' -f1)
  say "public key $key: SHA256:$fp (compare with the fingerprint received out of band)"
  [ -d "$dir" ] || fail "$dir: not a directory"
  for n in SHA256SUMS SHA256SUMS.sig; do
    { [ -f "$dir/$n" ] && [ ! -L "$dir/$n" ]; } || fail "$n: missing from $dir (not a bundle, or an incomplete one)"
  done
  openssl pkeyutl -verify -pubin -inkey "$key" -rawin -in "$dir/SHA256SUMS" -sigfile "$dir/SHA256SUMS.sig" \
    >/dev/null 2>&1 || fail "bad signature: SHA256SUMS.sig does not verify SHA256SUMS with $key" \
    "(signed by another key, or SHA256SUMS was changed); nothing was installed"

  # From here on SHA256SUMS is the signer's; its lines are still checked before they name paths.
  bad=$(grep -nEv '^[0-9a-f]{64}  [^/]' "$dir/SHA256SUMS" | sed -n 1p || true)
  [ -z "$bad" ] || fail "SHA256SUMS: line ${bad%%:*} is not '<sha256>  <relative path>'"
  bad=$(grep -nE '^[0-9a-f]{64}  (.*/)?\.\.(/|$)|^[0-9a-f]{64}  SHA256SUMS(\.sig)?$' "$dir/SHA256SUMS" | sed -n 1p || true)
  [ -z "$bad" ] || fail "SHA256SUMS: line ${bad%%:*} names '..' or SHA256SUMS itself"
  work=$(mktemp -d)
  cleanup+=("$work")
  sed -E 's/^[0-9a-f]{64}  //' "$dir/SHA256SUMS" | LC_ALL=C sort >"$work/listed"
  bad=$(LC_ALL=C uniq -d "$work/listed" | sed -n 1p)
  [ -z "$bad" ] || fail "SHA256SUMS: lists $bad twice"

  bad=$(cd "$dir" && find . -mindepth 1 ! -type d ! -type f -print | sed -n 's|^\./||; 1p')
  [ -z "$bad" ] || fail "$bad: a link or special file; a bundle holds only regular files"
  { cat "$work/listed"; printf '%s\n' SHA256SUMS SHA256SUMS.sig; } | LC_ALL=C sort >"$work/expected"
  (cd "$dir" && find . -mindepth 1 -type f -print) | sed 's|^\./||' | LC_ALL=C sort >"$work/present"
  while IFS= read -r n; do
    printf 'install.sh: %s: listed in SHA256SUMS but missing\n' "$n" >&2
    problems=$((problems + 1))
  done < <(LC_ALL=C comm -23 "$work/expected" "$work/present")
  while IFS= read -r n; do
    printf 'install.sh: %s: not listed in SHA256SUMS (an extra file); refused\n' "$n" >&2
    problems=$((problems + 1))
  done < <(LC_ALL=C comm -13 "$work/expected" "$work/present")
  awk -F/ '{ p = $1; for (i = 2; i <= NF; i++) { print p; p = p "/" $i } }' "$work/listed" | LC_ALL=C sort -u >"$work/dirs"
  while IFS= read -r n; do
    printf 'install.sh: %s/: a directory with no listed file; refused\n' "$n" >&2
    problems=$((problems + 1))
  done < <(cd "$dir" && find . -mindepth 1 -type d -print | sed 's|^\./||' | LC_ALL=C sort | LC_ALL=C comm -13 "$work/dirs" -)
  [ "$problems" = 0 ] || fail "$dir: $problems missing or unlisted entries; refused, nothing was installed"

  if ! bad=$(cd "$dir" && sha256sum --quiet --strict -c SHA256SUMS 2>/dev/null); then
    printf '%s\n' "$bad" | sed -n 's/^\(.*\): FAILED.*$/install.sh: \1: altered (its sha256 does not match SHA256SUMS)/p' >&2
    fail "$dir: files do not match SHA256SUMS; refused, nothing was installed"
  fi
  say "verified $dir: $(wc -l <"$work/listed") files match the signed SHA256SUMS, nothing unlisted"
}

# resolve_and_verify TARGET KEY STAGING: sets BUNDLE_DIR to a verified bundle directory.
resolve_and_verify() {
  local target=$1 key=$2 staging=$3
  if [ -f "$target" ]; then
    unpack "$target" "$staging"
  elif [ -d "$target" ]; then
    BUNDLE_DIR=$(cd "$target" && pwd)
    UNPACK_TMP=""
  else
    fail "$target: no such bundle file or directory"
  fi
  verify_dir "$BUNDLE_DIR" "$key"
}

cmd_verify() {
  local key="" staging=${TMPDIR:-/var/tmp} keep=0 target="" d
  while [ $# -gt 0 ]; do
    case "$1" in
      --pubkey) key=${2:?--pubkey needs a file}; shift 2 ;;
      --staging) staging=${2:?--staging needs a directory}; shift 2 ;;
      --keep) keep=1; shift ;;
      -h | --help) usage; exit 0 ;;
      -*) fail "verify: unknown option $1 (see --help)" ;;
      *) [ -z "$target" ] || fail "verify: one bundle at a time"; target=$1; shift ;;
    esac
  done
  [ -n "$key" ] || fail "verify: --pubkey KEY.pem is required (the public key carried separately)"
  resolve_and_verify "${target:-$SELF_DIR}" "$key" "$staging"
  if [ "$keep" = 1 ] && [ -n "$UNPACK_TMP" ]; then
    local -a kept=()
    for d in "${cleanup[@]}"; do [ "$d" = "$UNPACK_TMP" ] || kept+=("$d"); done
    cleanup=("${kept[@]}")
    say "kept the verified bundle in $BUNDLE_DIR"
  fi
}

host_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) echo amd64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) fail "unsupported architecture $(uname -m): the bundle has amd64 and arm64" ;;
  esac
}

# make_venv VENV WHEELHOUSE LOCK: a fresh venv filled offline from WHEELHOUSE with the hashes of LOCK.
make_venv() {
  local venv=$1 wh=$2 lock=$3 pipwhl v
  local -a pip
  pipwhl=$(find "$wh" -maxdepth 1 -name 'pip-*.whl' | LC_ALL=C sort | sed -n '$p')
  if [ -n "$pipwhl" ]; then  # no python3-venv needed: pip runs from its wheel
    python3 -m venv --without-pip "$venv" || return 1
    pip=("$venv/bin/python" "$pipwhl/pip")
  elif python3 -c 'import ensurepip' 2>/dev/null; then
    python3 -m venv "$venv" || return 1
    pip=("$venv/bin/python" -m pip)
  else
    echo "install.sh: python3 has no ensurepip (Debian: python3-venv) and $wh has no pip wheel" >&2
    return 1
  fi
  (
    # Only the bundle's wheels: no pip configuration file, no PIP_* from the environment, no index.
    for v in $(compgen -e | grep '^PIP_' || true); do unset "$v"; done
    export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
    # --no-deps: the lock is complete, so pip never resolves; pip check proves the set is whole.
    "${pip[@]}" install --quiet --no-index --no-cache-dir --find-links "$wh" --require-hashes --no-deps -r "$lock" &&
      { out=$("${pip[@]}" check) || { echo "install.sh: pip check in $venv: $out" >&2; false; }; }
  ) || return 1
  sha256sum "$lock" | cut -d' ' -f1 >"$venv/.bundle-lock.sha256"
}

# ansible_playbook BUNDLE_DIR ARCH: prints the ansible-playbook to run (making the venv if needed).
ansible_playbook() {
  local bundle=$1 arch=$2 venv=${ANSIBLE_VENV:-/opt/appliance/ansible-venv} wh lock want
  wh=$bundle/ansible-wheelhouse/linux-$arch
  if [ ! -d "$wh" ]; then
    command -v ansible-playbook >/dev/null 2>&1 ||
      fail "the bundle has no ansible-wheelhouse/linux-$arch and there is no ansible-playbook on PATH"
    echo "install.sh: no ansible-wheelhouse/linux-$arch in the bundle: using $(command -v ansible-playbook)" >&2
    command -v ansible-playbook
    return
  fi
  lock=$wh/requirements/ansible.txt
  [ -f "$lock" ] || lock=$bundle/wheelhouse/locks/ansible-linux-$arch.txt
  [ -f "$lock" ] || fail "$wh: no requirements/ansible.txt and no wheelhouse/locks/ansible-linux-$arch.txt"
  command -v python3 >/dev/null 2>&1 || fail "python3 not found: the Ansible controller needs it (Debian: python3)"
  want=$(sha256sum "$lock" | cut -d' ' -f1)
  if [ -x "$venv/bin/ansible-playbook" ] && [ "$(cat "$venv/.bundle-lock.sha256" 2>/dev/null)" = "$want" ]; then
    echo "install.sh: Ansible venv $venv already matches $(basename "$lock")" >&2
  else
    echo "install.sh: making the Ansible venv $venv offline from $wh" >&2
    rm -rf "$venv.previous"
    [ ! -e "$venv" ] || mv "$venv" "$venv.previous"
    if ! make_venv "$venv" "$wh" "$lock" >&2; then
      rm -rf "$venv"
      [ ! -e "$venv.previous" ] || mv "$venv.previous" "$venv"
      fail "$venv: could not install $lock from $wh (the previous venv, if any, is back)"
    fi
    rm -rf "$venv.previous"
  fi
  echo "$venv/bin/ansible-playbook"
}

cmd_install() {
  local key="" inventory="" manifest_dir="" staging=/opt/appliance/bundles target="" playbook final arch
  local -a extra=() args
  while [ $# -gt 0 ]; do
    case "$1" in
      --pubkey) key=${2:?--pubkey needs a file}; shift 2 ;;
      -i | --inventory) inventory=${2:?-i needs an inventory}; shift 2 ;;
      --manifest-dir) manifest_dir=${2:?--manifest-dir needs a directory}; shift 2 ;;
      --staging) staging=${2:?--staging needs a directory}; shift 2 ;;
      -h | --help) usage; exit 0 ;;
      --) shift; extra=("$@"); break ;;
      -*) fail "install: unknown option $1 (ansible-playbook options go after --)" ;;
      *) [ -z "$target" ] || fail "install: one bundle at a time"; target=$1; shift ;;
    esac
  done
  [ -n "$key" ] || fail "install: --pubkey KEY.pem is required (the public key carried separately)"
  [ -n "$inventory" ] || fail "install: -i INVENTORY is required"
  [ -e "$inventory" ] || fail "$inventory: inventory not found"
  inventory=$(realpath "$inventory")
  if [ -n "$manifest_dir" ]; then
    [ -d "$manifest_dir" ] || fail "$manifest_dir: not a directory (the output of gateway appliance generate)"
    manifest_dir=$(realpath "$manifest_dir")
  fi

  resolve_and_verify "${target:-$SELF_DIR}" "$key" "$staging"
  if [ -n "$UNPACK_TMP" ]; then  # verified: move it to its place (a bundle of the same version is replaced)
    final=$(cd "$staging" && pwd)/$BUNDLE_TOP
    [ ! -e "$final" ] || mv "$final" "$UNPACK_TMP/.replaced"
    mv "$BUNDLE_DIR" "$final"
    BUNDLE_DIR=$final
    say "bundle in $BUNDLE_DIR"
  fi
  arch=$(host_arch)
  playbook=$(ansible_playbook "$BUNDLE_DIR" "$arch")
  args=(-i "$inventory" "$BUNDLE_DIR/ansible/site.yml" -e "appliance_bundle_dir=$BUNDLE_DIR")
  [ -z "$manifest_dir" ] || args+=(-e "appliance_dir=$manifest_dir")
  [ -n "${ANSIBLE_CONFIG:-}" ] || [ ! -f "$BUNDLE_DIR/ansible/ansible.cfg" ] ||
    export ANSIBLE_CONFIG=$BUNDLE_DIR/ansible/ansible.cfg
  say "running $playbook ${args[*]} ${extra[*]}"
  # Ansible refuses to start without a UTF-8 locale; C.UTF-8 is on every Debian 12.
  LC_ALL=C.UTF-8 "$playbook" "${args[@]}" "${extra[@]}"
}

case "${1:-}" in
  verify) shift; cmd_verify "$@" ;;
  install) shift; cmd_install "$@" ;;
  -h | --help | help) usage ;;
  "") usage >&2; exit 2 ;;
  *) usage >&2; fail "unknown command '$1'" ;;
esac
