// A participant in Firefox (Debian's firefox-esr, `apt-get install
// firefox-esr`), driven by playwright-core over WebDriver BiDi (channel
// 'moz-firefox': Debian's own binary, no downloaded browser build), with
// Firefox's fake camera and microphone. Same shape as lib.mjs's
// participant(): {browser, page}.
//
// Firefox 153 ESR gathers no 127.0.0.1 candidate here, whatever its
// loopback preference says (it offers the machine's other addresses), so a
// server whose media is on 127.0.0.1 never connects with it. Put the media
// on a local non-loopback address and keep HTTP on loopback (plain HTTP):
//   huiyi --listen 127.0.0.1:8471 --set sfu.bind_address=<eth0's address> …

import { firefox } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const FIREFOX = process.env.FIREFOX || '/usr/lib/firefox-esr/firefox-esr';

const PREFS = {
  'media.navigator.streams.fake': true, // fake camera and microphone
  'media.navigator.permission.disabled': true,
  'media.autoplay.default': 0,
  'media.autoplay.blocking_policy': 0,
  'media.peerconnection.ice.loopback': true, // (asked for; see above)
  'media.peerconnection.ice.obfuscate_host_addresses': false, // no mDNS names
  'network.proxy.type': 0,
  'network.dns.disableIPv6': true,
  'app.update.enabled': false,
  'browser.shell.checkDefaultBrowser': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.enabled': false,
};

/// `init`: as lib.mjs's participant() (page.addInitScript before the page).
export async function firefoxParticipant(url, { width = 1000, height = 700, init = null } = {}) {
  const browser = await firefox.launchPersistentContext(mkdtempSync(join(tmpdir(), 'huiyi-firefox-')), {
    channel: 'moz-firefox',
    executablePath: FIREFOX,
    headless: true,
    viewport: { width, height },
    firefoxUserPrefs: PREFS,
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HUIYI_'))), HOME: process.env.HOME || '/root' },
  });
  const page = browser.pages()[0] || await browser.newPage();
  page.on('console', (m) => { if (process.env.HUIYI_BROWSER_LOG) console.log(`[firefox] ${m.text()}`); });
  try {
    if (init) await page.addInitScript(init);
    await page.goto(url);
  } catch (e) {
    await browser.close();
    throw e;
  }
  return { browser, page };
}
