// Shared helpers for the browser tests: Debian's Chromium with fake media,
// one browser process per participant (as real venues are separate PCs).

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.CHROMIUM || '/usr/lib/chromium/chromium';

/// Headless Chromium with fake media and no network but the server
/// (docs: shared/TESTING.md); `reachable`: addresses besides localhost and
/// 127.0.0.1 that the host resolver lets through.
export function chromiumFlags(reachable = []) {
  const exclude = ['localhost', '127.0.0.1', ...reachable].map((a) => `EXCLUDE ${a}`).join(', ');
  return [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
    '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns',
    '--autoplay-policy=no-user-gesture-required', '--mute-audio',
    '--disable-renderer-backgrounding', '--disable-background-timer-throttling',
    '--disable-backgrounding-occluded-windows', '--no-default-browser-check', '--disable-default-apps',
    '--disable-extensions', '--disable-domain-reliability', '--disable-client-side-phishing-detection',
    '--no-pings', `--host-resolver-rules=MAP * ~NOTFOUND, ${exclude}`,
  ];
}

const FLAGS = [
  ...chromiumFlags(),
  '--auto-select-desktop-capture-source=Entire screen', '--enable-usermedia-screen-capturing',
];

/// A participant: its own Chromium process and one page. `init`: a script
/// run in the page before its own (page.addInitScript), e.g. to ask the
/// fake camera for another resolution.
export async function participant(url, { width = 1000, height = 700, init = null, args = [] } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'huiyi-chromium-'));
  const removeProfile = () => rmSync(profile, { recursive: true, force: true });
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...FLAGS, ...args],
    viewport: { width, height },
    permissions: ['camera', 'microphone'],
  }).catch((e) => { removeProfile(); throw e; });
  const close = browser.close.bind(browser);
  browser.close = async (...args) => { try { await close(...args); } finally { removeProfile(); } };
  const page = browser.pages()[0] || await browser.newPage();
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('response', (r) => { if (r.status() >= 400 && process.env.HUIYI_BROWSER_LOG) console.log(`HTTP ${r.status()} ${r.url()}`); });
  page.on('console', (m) => { if (process.env.HUIYI_BROWSER_LOG) console.log(`[${url.slice(-12)}] ${m.text()}`); });
  try {
    if (init) await page.addInitScript(init);
    await page.goto(url);
  } catch (e) {
    await browser.close(); // a leftover Chromium would keep node (and the test) running
    throw e;
  }
  return { browser, page, requests };
}

/// Waits until `fn` (run in the page) returns truthy.
/// On a timeout it prints what the page knew (tracks, media, the messages it
/// received, the peer connection's state), so a failure says why.
export async function until(page, fn, arg, timeout = 20000) {
  try {
    return await page.waitForFunction(fn, arg, { timeout, polling: 200 });
  } catch (e) {
    const seen = await page.evaluate(() => {
      const h = window.huiyi;
      const pc = h?.session?.pc;
      return JSON.stringify({
        me: h?.me?.id,
        tracks: [...(h?.tracks || new Map())],
        media: [...(h?.session?.midToTrack || new Map())],
        signaling: pc?.signalingState,
        ice: pc?.iceConnectionState,
        transceivers: pc?.getTransceivers().map((t) => [t.mid, t.direction, t.currentDirection]),
        events: (h?.events || []).slice(-30).map((e) => [e.type, e.detail?.offer_id ?? e.detail?.track ?? e.detail?.code ?? '']),
      });
    }).catch((err) => `(page state unavailable: ${err})`);
    console.error(`until() timed out; the page knew: ${seen}`);
    throw e;
  }
}

/// Inbound RTP bytes per kind, from the page's peer connection.
export async function inboundBytes(page) {
  return page.evaluate(async () => {
    const pc = window.huiyi.session?.pc;
    const out = { audio: 0, video: 0, framesDecoded: 0 };
    if (!pc) return out;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp') {
        out[s.kind] += s.bytesReceived || 0;
        if (s.kind === 'video') out.framesDecoded += s.framesDecoded || 0;
      }
    });
    return out;
  });
}
