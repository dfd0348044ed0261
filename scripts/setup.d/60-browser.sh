#!/usr/bin/env bash
# Headless Chromium for the service map page's browser test (test mode only):
# Debian's `chromium`, driven by the npm package playwright-core with
# executablePath /usr/bin/chromium (test/support/browser.ts). Never
# `npx playwright install`: it downloads browsers.
set -euo pipefail

test_mode=false
for arg in "$@"; do
  [[ "$arg" == --test ]] && test_mode=true
done
if [[ "$test_mode" != true ]]; then
  exit 0
fi

if dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q 'install ok installed'; then
  echo "60-browser: chromium already installed"
else
  echo "60-browser: installing chromium"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 chromium
fi
[[ -x /usr/bin/chromium ]] || {
  echo "60-browser: /usr/bin/chromium is missing after installing the chromium package" >&2
  exit 1
}
