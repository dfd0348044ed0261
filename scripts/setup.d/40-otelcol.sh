#!/usr/bin/env bash
# Test mode only (--test): builds a real OpenTelemetry Collector with the
# Collector's official builder (ocb), from the Go module proxy, for the OTLP
# exporter's end-to-end tests. Components: the otlp receiver (gRPC + HTTP),
# the file exporter (contrib) and the debug exporter.
#
# Cached under /var/cache/loggerhead/otelcol/<version>/otelcol-loggerhead; skipped when
# present. A fresh build takes about 3 minutes on 2 cores and gives a 34 MB binary.
set -euo pipefail

want_test=false
for arg in "$@"; do
  [[ "$arg" == --test ]] && want_test=true
done
$want_test || exit 0

# One collector release for every module (the contrib file exporter resolves at this one).
OTELCOL_VERSION=v0.161.0

DIR=/var/cache/loggerhead/otelcol/$OTELCOL_VERSION
BIN=$DIR/otelcol-loggerhead
if [[ -x "$BIN" ]]; then
  exit 0
fi

export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
mkdir -p "$DIR"
work=$(mktemp -d /tmp/loggerhead-otelcol.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "40-otelcol: building the collector builder $OTELCOL_VERSION"
GOBIN="$work/bin" go install "go.opentelemetry.io/collector/cmd/builder@$OTELCOL_VERSION"

cat >"$work/manifest.yaml" <<MANIFEST
dist:
  name: otelcol-loggerhead
  description: OpenTelemetry Collector for loggerhead's tests (OTLP receiver; file and debug exporters)
  version: ${OTELCOL_VERSION#v}
  output_path: $work/out
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver $OTELCOL_VERSION
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter $OTELCOL_VERSION
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter $OTELCOL_VERSION
MANIFEST

echo "40-otelcol: building otelcol-loggerhead $OTELCOL_VERSION (a few minutes)"
start=$(date +%s)
"$work/bin/builder" --config "$work/manifest.yaml"
cp "$work/out/otelcol-loggerhead" "$BIN.tmp"
# The binary must list the three components it was built with.
components=$("$BIN.tmp" components)
for want in 'name: otlp' 'name: file' 'name: debug'; do
  grep -q "$want" <<<"$components" || {
    echo "40-otelcol: the built collector lacks '$want':" >&2
    echo "$components" >&2
    exit 1
  }
done
cp "$work/manifest.yaml" "$DIR/manifest.yaml"
mv "$BIN.tmp" "$BIN"
echo "40-otelcol: built $BIN ($(stat -c %s "$BIN") bytes) in $(($(date +%s) - start)) s"
