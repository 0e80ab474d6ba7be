#!/usr/bin/env bash
# The status-page tests load the page in headless Chromium (Debian's package).
# Without it (not root, no apt) those tests skip and say why.
set -uo pipefail
. "$(dirname "$0")/lib.bash"
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
apt_install chromium fonts-dejavu-core
