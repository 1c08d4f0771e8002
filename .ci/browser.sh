#!/usr/bin/env bash
# Install Debian's chromium for the Playwright browser test (tests/serve/test_browser.py launches
# /usr/bin/chromium; `playwright install` is not used). Needs root.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >&2
fi
chromium --version >&2
