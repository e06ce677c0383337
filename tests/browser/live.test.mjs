// The Chromium side of the live-feed scenario (tests/tests/live.rs, issue
// 16): a chair (camera: a red picture) and a venue (blue) join; the chair
// broadcasts itself and starts the live feed from its console; the venue
// sees 直播中 and the notice. The Rust side checks the HLS segments (red);
// then the chair gives the venue the floor and the Rust side checks that
// the feed shows it (blue); then the feed stops.
//
// The two sides meet through files in HUIYI_SYNC_DIR: written here
// `live-red`, `live-blue`, `stopped`; by the Rust side `checked-red`,
// `checked-blue`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { participant, until, inboundBytes } from './lib.mjs';

const { HUIYI_CHAIR_LINK: chairLink, HUIYI_VENUE_LINK: venueLink, HUIYI_SYNC_DIR: dir } = process.env;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mark = (name) => writeFileSync(join(dir, name), String(Date.now()));

async function waitFile(name, timeoutMs) {
  const end = Date.now() + timeoutMs;
  while (!existsSync(join(dir, name))) {
    if (Date.now() > end) assert.fail(`${name} did not come within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/// A one-second Y4M clip of one colour, which Chromium's fake camera loops.
function clip(colour) {
  const path = join(dir, `${colour}.y4m`);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `color=c=${colour}:s=640x360:r=15:d=1`,
    '-pix_fmt', 'yuv420p', path]);
  return path;
}

async function decoding(page, more, timeoutMs) {
  const from = (await inboundBytes(page).catch(() => ({ framesDecoded: 0 }))).framesDecoded;
  const end = Date.now() + timeoutMs;
  for (;;) {
    const now = (await inboundBytes(page).catch(() => ({ framesDecoded: 0 }))).framesDecoded;
    if (now >= from + more) return;
    if (Date.now() > end) assert.fail(`no video decoded (${from} → ${now})`);
    await sleep(200);
  }
}

const badge = (page, shown) => until(page, (s) => document.getElementById('live-badge')?.hidden === !s, shown, 20_000);

test('a meeting goes live from the chair console', { timeout: 240_000, skip: !chairLink && 'links unset' }, async () => {
  const cam = (c) => ({ args: [`--use-file-for-fake-video-capture=${clip(c)}`] });
  const chair = await participant(chairLink, cam('red'));
  const venue = await participant(venueLink, cam('blue'));
  try {
    for (const p of [chair, venue]) {
      await p.page.waitForSelector('#join:not([disabled])', { timeout: 30_000 });
      await p.page.click('#join');
    }
    await decoding(chair.page, 30, 60_000);
    await decoding(venue.page, 30, 60_000);
    // The chair broadcasts itself and goes live.
    await chair.page.click('#btn-console');
    await chair.page.click('#btn-broadcast-me');
    await until(chair.page, () => window.huiyi.meetingState?.broadcast?.[0] === 'p1', null, 10_000);
    await chair.page.click('#btn-live');
    await badge(venue.page, true);
    await badge(chair.page, true);
    assert.match(await venue.page.textContent('#notices'), /直播/, 'the venue is told');
    await venue.page.screenshot({ path: join(dir, 'venue-live.png') });
    mark('live-red');
    await waitFile('checked-red', 90_000);
    // The floor to the venue: the feed follows it.
    await chair.page.click('#console-list li[data-participant="p2"] button:nth-of-type(2)');
    await until(chair.page, () => window.huiyi.meetingState?.floor === 'p2', null, 10_000);
    mark('live-blue');
    await waitFile('checked-blue', 90_000);
    await chair.page.click('#btn-live');
    await badge(venue.page, false);
    mark('stopped');
  } finally {
    await chair.browser.close();
    await venue.browser.close();
  }
});
