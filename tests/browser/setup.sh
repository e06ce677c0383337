#!/usr/bin/env bash
# Installs what the browser tests need: Debian's Chromium and Firefox ESR
# (never a downloaded browser), CJK and emoji fonts for readable screenshots,
# nftables and coturn (the reach tests' firewalls and TURN relay, as root),
# ffmpeg (the recording tests), and playwright-core from npm.
# Idempotent; safe to run before every test run.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x /usr/lib/chromium/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi
if [ ! -x /usr/lib/firefox-esr/firefox-esr ] || ! dpkg -s fonts-noto-cjk fonts-noto-color-emoji >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq firefox-esr fonts-noto-cjk fonts-noto-color-emoji >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq firefox-esr fonts-noto-cjk fonts-noto-color-emoji >/dev/null; }
fi
if [ "$(id -u)" = 0 ] && ! command -v nft >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq nftables >/dev/null || { apt-get update -qq && apt-get install -y -qq nftables >/dev/null; }
fi
# coturn: the venue that reaches only TCP 443 relays through TURN over TLS
# (tests/tests/reach.rs), as a deployment's relay beside Huiyi does.
if [ "$(id -u)" = 0 ] && ! command -v turnserver >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq coturn >/dev/null || { apt-get update -qq && apt-get install -y -qq coturn >/dev/null; }
fi
# ffmpeg: the recording tests probe the files with ffprobe and compose with
# ffmpeg, as an operator's server does (docs/operations.md).
if ! command -v ffprobe >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq ffmpeg >/dev/null || { apt-get update -qq && apt-get install -y -qq ffmpeg >/dev/null; }
fi
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund --silent
fi
