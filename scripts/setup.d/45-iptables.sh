#!/usr/bin/env bash
# iptables, for test/e2e/k8s-service-links.test.ts: a DNAT rule inside a test network namespace plays
# kube-proxy (ClusterIP:port -> pod), so the client socket keeps the Service IP as its peer as on a real
# node. Idempotent: installs only when missing.
#
# Test tooling only, so it runs with --test (as scripts/setup.sh --test passes it).
#
# Example: bash scripts/setup.d/45-iptables.sh --test   (as root; scripts/setup.sh runs it after apt-get update)
set -euo pipefail

test_mode=false
for arg in "$@"; do
  case "$arg" in
    --test) test_mode=true ;;
    *)
      echo "45-iptables: unknown option '$arg' (expected --test)" >&2
      exit 2
      ;;
  esac
done
if [ "$test_mode" != true ]; then
  echo "45-iptables: test tools only; nothing to do without --test"
  exit 0
fi

if command -v iptables >/dev/null 2>&1; then
  echo "45-iptables: iptables present ($(iptables --version))"
else
  echo "45-iptables: installing iptables"
  DEBIAN_FRONTEND=noninteractive flock /tmp/lh-apt.lock apt-get install -y --no-install-recommends iptables
fi
