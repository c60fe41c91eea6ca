#!/usr/bin/env bash
# The UI test drives a real browser: Debian's headless Chromium. Install it when missing.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "ensure-chromium: $(chromium --version 2>/dev/null | head -1)"
  exit 0
fi
echo "ensure-chromium: installing Debian's chromium (needed by tests/assets/test_webserver.py)" >&2
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "ensure-chromium: chromium did not install" >&2; exit 1; }
