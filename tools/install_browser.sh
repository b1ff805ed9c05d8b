#!/usr/bin/env bash
# Install Debian's Chromium for tests/test_browser.py (Playwright drives it; Playwright's own
# browser download is not used). Idempotent: does nothing when /usr/bin/chromium exists.
# Needs root (or sudo) on Debian/Ubuntu.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
        # A learner's laptop without root: the browser test will skip and say why.
        echo "install_browser.sh: not root and no sudo - skipping chromium (tests/test_browser.py will be skipped)" >&2
        exit 0
    fi
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium
/usr/bin/chromium --version
