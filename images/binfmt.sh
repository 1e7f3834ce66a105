#!/usr/bin/env bash
# Make arm64 binaries runnable here through qemu-user-static (root; idempotent).
set -euo pipefail
if [ "$(uname -m)" = aarch64 ]; then exit 0; fi
if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
if ! grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
  echo "binfmt: qemu-aarch64 is not enabled; install qemu-user-static and binfmt-support" >&2
  exit 1
fi
