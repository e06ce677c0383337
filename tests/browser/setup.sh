#!/usr/bin/env bash
# Installs what the browser tests need: Debian's Chromium (never a downloaded
# browser), CJK fonts for readable screenshots, nftables (the reach tests'
# firewalls, as root), and playwright-core from npm.
# Idempotent; safe to run before every test run.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x /usr/lib/chromium/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi
if [ "$(id -u)" = 0 ] && ! command -v nft >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq nftables >/dev/null || { apt-get update -qq && apt-get install -y -qq nftables >/dev/null; }
fi
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund --silent
fi
