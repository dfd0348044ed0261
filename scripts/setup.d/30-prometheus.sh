#!/usr/bin/env bash
# Real scrape backends for the prometheus exporter's end-to-end tests (test mode
# only): Prometheus (with promtool) and VictoriaMetrics from Debian. Neither
# starts on install here (no systemd, policy-rc.d denies it); the tests start
# their own on 127.0.0.1 with temporary storage (test/support/backends.ts).
set -euo pipefail

test_mode=false
for arg in "$@"; do
  [[ "$arg" == --test ]] && test_mode=true
done
if [[ "$test_mode" != true ]]; then
  exit 0
fi

packages=(prometheus victoria-metrics)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  echo "30-prometheus: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "30-prometheus: prometheus and victoria-metrics already installed"
fi
for bin in prometheus promtool victoria-metrics; do
  command -v "$bin" >/dev/null || {
    echo "30-prometheus: $bin is not on PATH after installing ${packages[*]}" >&2
    exit 1
  }
done
