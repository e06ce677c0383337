// The Chromium side of the recording scenario (tests/tests/recording.rs,
// issue 16): a chair (camera: a red picture) and a venue (blue) join; the
// chair gives the venue the floor and starts recording from its console;
// the venue sees 录制中 and the notice; ~20 s later the chair stops it. Then
// a second recording, during which the Rust side kills the server and
// starts it again: both pages come back by themselves and the recording
// starts again with the meeting.
//
// The two sides meet through files in HUIYI_SYNC_DIR: written here
// `joined`, `recording1`, `stopped1`, `recording2`, `back`; written by the
// Rust side `restarted`, `finish`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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
  return readFileSync(join(dir, name), 'utf8');
}

/// A one-second Y4M clip of one colour, which Chromium's fake camera loops.
function clip(colour) {
  const path = join(dir, `${colour}.y4m`);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `color=c=${colour}:s=640x360:r=15:d=1`,
    '-pix_fmt', 'yuv420p', path]);
  return path;
}

/// Waits until the page decodes video again (`more` frames past `from`).
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

const badge = (page, shown) => until(page, (s) => document.getElementById('rec-badge')?.hidden === !s, shown, 20_000);

test('a meeting is recorded from the chair console and through a server kill', { timeout: 240_000, skip: !chairLink && 'links unset' }, async () => {
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
    mark('joined');
    // The floor to the venue: the composite shows it large.
    await chair.page.click('#btn-console');
    await chair.page.click('#console-list li[data-participant="p2"] button:nth-of-type(2)');
    await until(chair.page, () => window.huiyi.meetingState?.floor === 'p2', null, 10_000);
    await chair.page.click('#btn-record');
    await badge(venue.page, true);
    await badge(chair.page, true);
    const notice = await venue.page.textContent('#notices');
    assert.match(notice, /正在录制/, 'the venue is told');
    await venue.page.screenshot({ path: join(dir, 'venue-recording.png') });
    mark('recording1');
    await sleep(20_000);
    await chair.page.click('#btn-record');
    await badge(venue.page, false);
    mark('stopped1');
    // A second recording; the Rust side kills the server during it.
    await sleep(1_000);
    await chair.page.click('#btn-record');
    await badge(venue.page, true);
    mark('recording2');
    await waitFile('restarted', 60_000);
    // Both pages come back by themselves; the meeting, still recorded.
    for (const p of [chair, venue]) await decoding(p.page, 30, 60_000);
    await badge(venue.page, true);
    mark('back');
    await waitFile('finish', 120_000);
  } finally {
    await chair.browser.close();
    await venue.browser.close();
  }
});
