#!/usr/bin/env bash
# Test mode only (--test): builds a real OpenTelemetry Collector with the
# Collector's official builder (ocb), from the Go module proxy, for the OTLP
# exporter's end-to-end tests. Components: the otlp receiver (gRPC + HTTP),
# the file exporter (contrib), the debug exporter and the bearertokenauth
# extension (contrib: the receiver refuses requests without the token, for the
# headers tests).
#
# Cached under /var/cache/loggerhead/otelcol/<version>/otelcol-loggerhead; skipped when
# present with every component below (a binary from an older manifest is rebuilt in
# place). A fresh build takes about 3 minutes on 2 cores and gives a 34 MB binary.
set -euo pipefail

want_test=false
for arg in "$@"; do
  [[ "$arg" == --test ]] && want_test=true
done
$want_test || exit 0

# The TLS tests make their throwaway CA and certificates with openssl.
if ! command -v openssl >/dev/null; then
  apt-get install -y --no-install-recommends openssl
fi

# One collector release for every module (the contrib file exporter resolves at this one).
OTELCOL_VERSION=v0.161.0

DIR=/var/cache/loggerhead/otelcol/$OTELCOL_VERSION
BIN=$DIR/otelcol-loggerhead
# What `otelcol components` must list.
WANT=('name: otlp' 'name: file' 'name: debug' 'name: bearertokenauth')

# Prints the wanted components that the binary $1 lacks, one a line.
missing_components() {
  local components want
  components=$("$1" components 2>&1) || true
  for want in "${WANT[@]}"; do
    grep -q "$want" <<<"$components" || echo "$want"
  done
}

if [[ -x "$BIN" && -z "$(missing_components "$BIN")" ]]; then
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
  description: OpenTelemetry Collector for loggerhead's tests (OTLP receiver; file and debug exporters; bearertokenauth)
  version: ${OTELCOL_VERSION#v}
  output_path: $work/out
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver $OTELCOL_VERSION
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter $OTELCOL_VERSION
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter $OTELCOL_VERSION
extensions:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension $OTELCOL_VERSION
MANIFEST

echo "40-otelcol: building otelcol-loggerhead $OTELCOL_VERSION (a few minutes)"
start=$(date +%s)
"$work/bin/builder" --config "$work/manifest.yaml"
cp "$work/out/otelcol-loggerhead" "$BIN.tmp"
# The binary must list the components it was built with.
lacking=$(missing_components "$BIN.tmp")
if [[ -n "$lacking" ]]; then
  echo "40-otelcol: the built collector lacks:" >&2
  echo "$lacking" >&2
  "$BIN.tmp" components >&2 || true
  exit 1
fi
cp "$work/manifest.yaml" "$DIR/manifest.yaml"
mv "$BIN.tmp" "$BIN"
echo "40-otelcol: built $BIN ($(stat -c %s "$BIN") bytes) in $(($(date +%s) - start)) s"
