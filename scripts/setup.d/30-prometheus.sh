#!/usr/bin/env bash
# Real scrape backends for the prometheus exporter's end-to-end tests (test mode
# only): Prometheus (with promtool) and VictoriaMetrics from Debian. Neither
# starts on install here (no systemd, policy-rc.d denies it); the tests start
# their own on 127.0.0.1 with temporary storage (test/support/backends.ts).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
test_mode_only 30-prometheus "$@"

packages=(prometheus victoria-metrics)
apt_install_missing 30-prometheus "${packages[@]}"
for bin in prometheus promtool victoria-metrics; do
  command -v "$bin" >/dev/null || {
    echo "30-prometheus: $bin is not on PATH after installing ${packages[*]}" >&2
    exit 1
  }
done
