#!/usr/bin/env bash
# Network test and bench tools: iproute2 (ip, tc, ss: the namespace topologies of test/support/netns.ts),
# iperf3 (bench/tools/iperf.ts), gcc, and connblast (bench/tools/connblast.c, the connection-rate load
# generator) built into /var/cache/loggerhead/bin/. Idempotent: installs only what is missing and
# rebuilds connblast only when its source or the compiler flags change.
#
# All of it serves tests and benches only, so it runs with --test (as scripts/setup.sh --test passes it).
#
# Example: bash scripts/setup.d/10-net-tools.sh --test   (as root; scripts/setup.sh runs it after apt-get update)
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
test_mode_only 10-net-tools "$@"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin_dir=/var/cache/loggerhead/bin
cflags=(-O2 -Wall -Wextra -Werror -std=gnu11)

# iproute2: ip, tc, ss.
apt_install_missing 10-net-tools iproute2 iperf3 gcc libc6-dev

src="$repo/bench/tools/connblast.c"
out="$bin_dir/connblast"
# The stamp is "<sha256 of the source> <flags>": bench/tools/connblast.ts checks the hash before use.
stamp="$(sha256sum <"$src" | cut -d' ' -f1) ${cflags[*]}"
if [ -x "$out" ] && [ "$(cat "$out.sha256" 2>/dev/null)" = "$stamp" ]; then
  echo "10-net-tools: connblast up to date ($out)"
else
  mkdir -p "$bin_dir"
  gcc "${cflags[@]}" -o "$out.tmp.$$" "$src"
  mv "$out.tmp.$$" "$out"
  echo "$stamp" >"$out.sha256"
  echo "10-net-tools: built $out"
fi
