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
