#!/usr/bin/env bash
# The eBPF receiver. At run time the agent needs only libbpf1 (the compiled
# object bpf/socket_tracker.bpf.o is committed). With --test, also what
# `npm run bpf:check` needs to rebuild and compare the object (clang-14,
# llvm-14, libbpf-dev) and what its kernel tests and benchmarks use (bpftool,
# iperf3, iproute2).
set -euo pipefail

packages=(libbpf1)
for arg in "$@"; do
  if [[ "$arg" == --test ]]; then
    packages+=(clang-14 llvm-14 libbpf-dev bpftool iperf3 iproute2)
  fi
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  echo "20-bpf: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "20-bpf: ${packages[*]} already installed"
fi
