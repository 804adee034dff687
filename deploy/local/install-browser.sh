#!/usr/bin/env bash
# Installs Debian's Chromium for the browser test (Playwright drives it
# through playwright-core; no browser is downloaded by npm). Idempotent.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "install-browser.sh: run as root to install chromium" >&2; exit 1; }
echo "install-browser.sh: installing Debian chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
