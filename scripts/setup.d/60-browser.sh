#!/usr/bin/env bash
# Headless Chromium for the service map page's browser test (test mode only):
# Debian's `chromium`, driven by the npm package playwright-core with
# executablePath /usr/bin/chromium (test/support/browser.ts). Never
# `npx playwright install`: it downloads browsers.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
test_mode_only 60-browser "$@"

apt_install_missing 60-browser chromium
[[ -x /usr/bin/chromium ]] || {
  echo "60-browser: /usr/bin/chromium is missing after installing the chromium package" >&2
  exit 1
}
