#!/usr/bin/env bash
# The eBPF receiver. At run time the agent needs only libbpf1 (the compiled
# object bpf/socket_tracker.bpf.o is committed). With --test, also what
# `npm run bpf:check` needs to rebuild and compare the object (clang-14,
# llvm-14, libbpf-dev) and what its kernel tests and benchmarks use (bpftool,
# iperf3, iproute2, linux-perf: bench/ebpf_socket/overhead.ts samples the hooks).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

packages=(libbpf1)
for arg in "$@"; do
  if [[ "$arg" == --test ]]; then
    packages+=(clang-14 llvm-14 libbpf-dev bpftool iperf3 iproute2 linux-perf)
  fi
done
apt_install_missing 20-bpf "${packages[@]}"
