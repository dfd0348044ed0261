#!/usr/bin/env bash
# Prepares a fresh Debian/Ubuntu machine to run loggerhead and, with --test, its tests.
#
#   sudo ./scripts/setup.sh          # what `loggerhead run` needs
#   sudo ./scripts/setup.sh --test   # plus what `npm test` needs
#
# Runs `apt-get update` once, then every scripts/setup.d/*.sh in name order
# (each gets the same flags, so it can install test-only things only with --test),
# then `npm ci`, which installs the pinned Node 24 and builds dist/.
# Every step is idempotent and quick when already done.
set -euo pipefail

usage() {
  sed -n '2,10s/^# \{0,1\}//p' "$0"
}

flags=()
for arg in "$@"; do
  case "$arg" in
    --test) flags+=(--test) ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "setup.sh: unknown option '$arg' (expected --test or --help)" >&2
      exit 2
      ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: must run as root (it installs packages with apt-get): sudo $0 $*" >&2
  exit 1
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export DEBIAN_FRONTEND=noninteractive

echo "==> apt-get update"
apt-get update -qq -o DPkg::Lock::Timeout=300

if ! command -v npm >/dev/null 2>&1; then
  echo "==> installing npm (needed once to fetch the project's own Node 24)"
  apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 nodejs npm
fi

for script in "$root"/scripts/setup.d/*.sh; do
  [ -e "$script" ] || continue
  echo "==> ${script#"$root"/} ${flags[*]}"
  bash "$script" "${flags[@]}"
done

echo "==> npm ci"
npm ci --no-audit --no-fund
