# Helpers the scripts of scripts/setup.d source (setup.sh runs only setup.d/*.sh, never this file):
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# test_mode_only NAME ARG...: returns when --test is among ARG; without it, says so and exits 0 (the
# calling script has nothing to do); any other argument exits 2 naming it.
test_mode_only() {
  local name=$1 arg test_mode=false
  shift
  for arg in "$@"; do
    case "$arg" in
      --test) test_mode=true ;;
      *)
        echo "$name: unknown option '$arg' (expected --test)" >&2
        exit 2
        ;;
    esac
  done
  if [ "$test_mode" != true ]; then
    echo "$name: test tools only; nothing to do without --test"
    exit 0
  fi
}

# apt_install_missing NAME PACKAGE...: installs, in one apt-get call, the packages dpkg does not list
# as installed (waiting for other apt runs on this machine), or says that all are there.
apt_install_missing() {
  local name=$1 p
  shift
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]} > 0)); then
    echo "$name: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive flock /tmp/lh-apt.lock \
      apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}"
  else
    echo "$name: $* already installed"
  fi
}

# build_otelcol NAME DIST VERSION DESCRIPTION DEST [CHECK...] < COMPONENTS: makes DEST an OpenTelemetry
# Collector distribution named DIST, built by the Collector's official builder (ocb) VERSION from the Go
# module proxy, of the builder manifest's component sections on stdin (receivers:, exporters:, ...).
# The manifest is kept as manifest.yaml beside DEST; a DEST built from the same manifest is kept as it is.
# CHECK, when given, runs with the new binary's path appended before it replaces DEST (a failure exits 1).
# The builder's output is shown only when it fails.
build_otelcol() (
  local name=$1 dist=$2 version=$3 description=$4 dest=$5
  shift 5
  local dir work start
  dir=$(dirname "$dest")
  work=$(mktemp -d "/tmp/loggerhead-$dist.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  {
    printf 'dist:\n  name: %s\n  description: %s\n  version: %s\n  output_path: %s\n' \
      "$dist" "$description" "${version#v}" "$work/out"
    cat
  } >"$work/manifest.yaml"
  # output_path names this run's temporary directory: the manifests are compared without it.
  if [[ -x "$dest" ]] && cmp -s <(grep -v '^  output_path:' "$work/manifest.yaml") \
    <(grep -v '^  output_path:' "$dir/manifest.yaml" 2>/dev/null); then
    echo "$name: $dest up to date"
    exit 0
  fi
  export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
  echo "$name: building $dist with the collector builder $version (a few minutes when the Go caches are cold)"
  start=$(date +%s)
  GOBIN="$work/bin" go install "go.opentelemetry.io/collector/cmd/builder@$version"
  "$work/bin/builder" --config "$work/manifest.yaml" >"$work/build.log" 2>&1 || {
    tail -30 "$work/build.log" >&2
    echo "$name: the collector builder failed (last 30 lines above)" >&2
    exit 1
  }
  if (($# > 0)) && ! "$@" "$work/out/$dist"; then
    echo "$name: the built $dist fails the check: $*" >&2
    exit 1
  fi
  mkdir -p "$dir"
  cp "$work/out/$dist" "$dest.tmp"
  mv "$dest.tmp" "$dest"
  # The manifest last: a run stopped in between rebuilds rather than trusting a binary it did not make.
  cp "$work/manifest.yaml" "$dir/manifest.yaml"
  echo "$name: built $dest ($(stat -c %s "$dest") bytes) in $(($(date +%s) - start)) s"
)
