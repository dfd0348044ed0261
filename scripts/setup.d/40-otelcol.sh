#!/usr/bin/env bash
# Test mode only (--test): builds a real OpenTelemetry Collector with the
# Collector's official builder (ocb), from the Go module proxy, for the OTLP
# exporter's end-to-end tests. Components: the otlp receiver (gRPC + HTTP),
# the file exporter (contrib), the debug exporter and the bearertokenauth
# extension (contrib: the receiver refuses requests without the token, for the
# headers tests).
#
# Cached under /var/cache/loggerhead/otelcol/<version>/otelcol-loggerhead; skipped when
# present and built from the manifest below (a binary from another manifest is rebuilt in
# place). A fresh build takes about 3 minutes on 2 cores and gives a 34 MB binary.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
test_mode_only 40-otelcol "$@"

# The TLS tests make their throwaway CA and certificates with openssl.
apt_install_missing 40-otelcol openssl

# One collector release for every module (the contrib file exporter resolves at this one).
OTELCOL_VERSION=v0.161.0
CONTRIB=github.com/open-telemetry/opentelemetry-collector-contrib

# lists_components BINARY: fails, naming them, when BINARY's `components` lacks one of the manifest's.
lists_components() {
  local components want lacking=()
  components=$("$1" components 2>&1) || true
  for want in 'name: otlp' 'name: file' 'name: debug' 'name: bearertokenauth'; do
    grep -q "$want" <<<"$components" || lacking+=("$want")
  done
  if ((${#lacking[@]} > 0)); then
    echo "40-otelcol: the collector lacks: ${lacking[*]}" >&2
    return 1
  fi
}

build_otelcol 40-otelcol otelcol-loggerhead "$OTELCOL_VERSION" \
  "OpenTelemetry Collector for loggerhead's tests (OTLP receiver; file and debug exporters; bearertokenauth)" \
  "/var/cache/loggerhead/otelcol/$OTELCOL_VERSION/otelcol-loggerhead" lists_components <<MANIFEST
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver $OTELCOL_VERSION
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter $OTELCOL_VERSION
  - gomod: $CONTRIB/exporter/fileexporter $OTELCOL_VERSION
extensions:
  - gomod: $CONTRIB/extension/bearertokenauthextension $OTELCOL_VERSION
MANIFEST
