#!/usr/bin/env bash
# Tools to rebuild and check bpf/socket_tracker.bpf.o (`npm run bpf:check`) and
# to run the eBPF receiver's kernel tests and benchmarks. The agent itself
# needs only libbpf1 at run time.
set -euo pipefail

packages=(clang-14 llvm-14 libbpf-dev libbpf1 bpftool iperf3 iproute2)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  echo "20-bpf: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "20-bpf: clang-14, llvm-14, libbpf-dev, bpftool, iperf3 already installed"
fi
