// A participant in Firefox: Debian's firefox-esr (`apt-get install
// firefox-esr`, tests/browser/setup.sh), driven by playwright-core over
// WebDriver BiDi (channel 'moz-firefox': Debian's own binary, never a
// downloaded browser build), with Firefox's fake camera and microphone.
// Same shape as lib.mjs's participant(): {browser, page, requests}.
//
// ICE on loopback needs, besides `media.peerconnection.ice.loopback`, the
// camera and microphone *permissions* (permissions.default.*): without
// them Firefox treats the page as one without media access and gathers no
// 127.0.0.1 candidate (an earlier attempt concluded it never does). With
// them it connects to a server on 127.0.0.1 like Chromium.

import { firefox } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const FIREFOX = process.env.FIREFOX || '/usr/lib/firefox-esr/firefox-esr';

/// No network but loopback: every URL whose host is not in 127/8 (or
/// localhost) goes to a proxy on a closed port (127.0.0.1:9) and fails.
const PAC = 'function FindProxyForURL(url, host) {'
  + ' return (host === "localhost" || /^127\\./.test(host)) ? "DIRECT" : "PROXY 127.0.0.1:9"; }';

/// Firefox preferences of a test participant.
export function firefoxPrefs() {
  return {
    // Fake camera and microphone, granted without a prompt.
    'media.navigator.streams.fake': true,
    'media.navigator.permission.disabled': true,
    'permissions.default.camera': 1,
    'permissions.default.microphone': 1,
    // ICE: host candidates on loopback too, by address (no mDNS names). Like
    // Chromium it gathers on every interface (force_interface has no effect
    // in 153 ESR), but checks go only to the server's 127.0.0.1 candidates.
    'media.peerconnection.ice.loopback': true,
    'media.peerconnection.ice.obfuscate_host_addresses': false,
    // Audio runs without a sound card (this machine has none): cubeb's mock
    // context, as Chromium's fake audio output. Without it an AudioContext
    // stays 'suspended' (the pre-join meter shows nothing) and resume()
    // closes the page. Autoplay keeps Firefox's defaults: the click on 加入
    // is the user gesture that lets the meeting's audio play.
    'media.cubeb.force_mock_context': true,
    // Nothing leaves the machine (the remote agent's recommended preferences
    // already point Firefox's own services at dummy servers).
    'network.proxy.type': 2,
    'network.proxy.autoconfig_url': `data:text/javascript,${encodeURIComponent(PAC)}`,
    'network.proxy.allow_hijacking_localhost': false,
    'network.trr.mode': 5,
    'network.dns.disablePrefetch': true,
    'network.prefetch-next': false,
    'network.http.speculative-parallel-limit': 0,
    'network.dns.disableIPv6': true,
    'app.update.enabled': false,
    'browser.shell.checkDefaultBrowser': false,
    'datareporting.policy.dataSubmissionEnabled': false,
    'toolkit.telemetry.enabled': false,
    // A page in the background keeps its timers (one process per participant).
    'dom.min_background_timeout_value': 4,
    'dom.timeout.enable_budget_timer_throttling': false,
  };
}

/// A participant in its own Firefox process, one page at `url`. `init`: a
/// script run in the page before its own (page.addInitScript); `prefs`:
/// more (or other) Firefox preferences; `executablePath`: e.g. a wrapper
/// that runs Firefox in a network namespace.
export async function firefoxParticipant(url, { width = 1000, height = 700, init = null, prefs = {}, executablePath = FIREFOX } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'huiyi-firefox-'));
  const removeProfile = () => rmSync(profile, { recursive: true, force: true }); // ~40 MB each
  const browser = await firefox.launchPersistentContext(profile, {
    channel: 'moz-firefox',
    executablePath,
    headless: true,
    viewport: { width, height },
    firefoxUserPrefs: { ...firefoxPrefs(), ...prefs },
    // huiyi reads HUIYI_* variables; Firefox needs none of the test's.
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HUIYI_'))), HOME: process.env.HOME || '/root' },
  }).catch((e) => { removeProfile(); throw e; });
  const close = browser.close.bind(browser);
  browser.close = async (...args) => { try { await close(...args); } finally { removeProfile(); } };
  const page = browser.pages()[0] || await browser.newPage();
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('response', (r) => { if (r.status() >= 400 && process.env.HUIYI_BROWSER_LOG) console.log(`HTTP ${r.status()} ${r.url()}`); });
  page.on('console', (m) => { if (process.env.HUIYI_BROWSER_LOG) console.log(`[firefox] ${m.text()}`); });
  try {
    if (init) await page.addInitScript(init);
    await page.goto(url);
  } catch (e) {
    await browser.close(); // a leftover Firefox would keep node (and the test) running
    throw e;
  }
  return { browser, page, requests };
}
