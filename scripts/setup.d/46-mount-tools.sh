#!/usr/bin/env bash
# unshare (util-linux) and mount, for test/e2e/k8s-in-cluster.test.ts: the agent runs in a private mount
# namespace where a test directory is bind-mounted over /var/run/secrets/kubernetes.io/serviceaccount, as
# in a pod, without touching the host's path; and openssl, which makes the API emulator's certificates.
# Idempotent: installs only what is missing (on Debian all three are usually there already).
#
# Test tooling only, so it runs with --test (as scripts/setup.sh --test passes it).
#
# Example: bash scripts/setup.d/46-mount-tools.sh --test   (as root; scripts/setup.sh runs it after apt-get update)
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
test_mode_only 46-mount-tools "$@"

apt_install_missing 46-mount-tools util-linux mount openssl
