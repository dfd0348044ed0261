#!/usr/bin/env bash
# iptables, for test/e2e/k8s-service-links.test.ts: a DNAT rule inside a test network namespace plays
# kube-proxy (ClusterIP:port -> pod), so the client socket keeps the Service IP as its peer as on a real
# node. Idempotent: installs only when missing.
#
# Test tooling only, so it runs with --test (as scripts/setup.sh --test passes it).
#
# Example: bash scripts/setup.d/45-iptables.sh --test   (as root; scripts/setup.sh runs it after apt-get update)
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
test_mode_only 45-iptables "$@"

apt_install_missing 45-iptables iptables
