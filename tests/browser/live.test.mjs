// The Chromium side of the live-feed scenario (tests/tests/live.rs, issue
// 16): a chair (camera: a red picture) and a venue (blue) join; the chair
// broadcasts itself and starts the live feed from its console; the venue
// sees 直播中 and the notice. The Rust side checks the HLS segments (red);
// then the chair gives the venue the floor and the Rust side checks that
// the feed shows it (blue). A WHEP viewer (a third Chromium, on a page of
// another origin: a player on another site) then watches through the media plane and
// sees the venue (blue); it leaves with DELETE, and the feed stops.
//
// The two sides meet through files in HUIYI_SYNC_DIR: written here
// `live-red`, `live-blue`, `stopped`; by the Rust side `checked-red`,
// `checked-blue`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { participant, until, inboundBytes } from './lib.mjs';

const { HUIYI_CHAIR_LINK: chairLink, HUIYI_VENUE_LINK: venueLink, HUIYI_SYNC_DIR: dir, HUIYI_WHEP_URL: whepUrl } = process.env;
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

/// A WHEP player (draft-ietf-wish-whep) in the page: receive-only audio and
/// video, the offer POSTed once ICE gathering is complete; the status and
/// the session's URL.
async function whepWatch(page, url) {
  return page.evaluate(async (url) => {
    const pc = new RTCPeerConnection();
    window.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const video = document.createElement('video');
    video.muted = true;
    video.autoplay = true;
    document.body.append(video);
    window.video = video;
    pc.ontrack = (e) => { if (e.track.kind === 'video') video.srcObject = new MediaStream([e.track]); };
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((done) => {
      if (pc.iceGatheringState === 'complete') done();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && done();
      setTimeout(done, 3000);
    });
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: pc.localDescription.sdp });
    const location = res.headers.get('location');
    if (res.status === 201) await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    return { status: res.status, location };
  }, url);
}

/// The WHEP player's decoded frames and the colour at its picture's centre.
async function whepSees(page) {
  return page.evaluate(async () => {
    let frames = 0;
    for (const s of (await window.pc.getStats()).values()) if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded ?? 0;
    const v = window.video;
    if (!v.videoWidth) return { frames, colour: null };
    const c = document.createElement('canvas');
    [c.width, c.height] = [v.videoWidth, v.videoHeight];
    const ctx = c.getContext('2d');
    ctx.drawImage(v, 0, 0);
    return { frames, colour: Array.from(ctx.getImageData(c.width / 2, c.height / 2, 1, 1).data.slice(0, 3)) };
  });
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
    // A WHEP viewer on another site watches the venue through the SFU.
    // A player's page on another site: served here, on another port (CORS
    // applies; a loopback page, as browsers let only those call loopback).
    const site = createServer((_, res) => res.end('<!doctype html><title>门户</title>'));
    await new Promise((done) => site.listen(0, '127.0.0.1', done));
    const viewer = await participant(`http://127.0.0.1:${site.address().port}/`);
    try {
      const { status, location } = await whepWatch(viewer.page, whepUrl);
      assert.equal(status, 201, 'the WHEP offer is answered');
      assert.match(location ?? '', /^\/whep\//, 'the session has a URL');
      const end = Date.now() + 30_000;
      let seen = await whepSees(viewer.page);
      while (!(seen.frames >= 30 && seen.colour && seen.colour[2] > 150 && seen.colour[0] < 90) && Date.now() < end) {
        await sleep(250);
        seen = await whepSees(viewer.page);
      }
      console.log(`WHEP viewer: ${seen.frames} frames decoded, centre ${JSON.stringify(seen.colour)}`);
      assert.ok(seen.frames >= 30, `the viewer decodes the broadcast's video: ${seen.frames} frames`);
      assert.ok(seen.colour[2] > 150 && seen.colour[0] < 90, `it shows the floor holder (blue): ${seen.colour}`);
      await viewer.page.screenshot({ path: join(dir, 'whep-viewer.png') });
      const origin = new URL(whepUrl).origin;
      const gone = await viewer.page.evaluate(async (u) => (await fetch(u, { method: 'DELETE' })).status, origin + location);
      assert.equal(gone, 200, 'the viewer leaves');
      mark('whep-done');
    } finally {
      await viewer.browser.close();
      site.close();
    }
    await chair.page.click('#btn-live');
    await badge(venue.page, false);
    mark('stopped');
  } finally {
    await chair.browser.close();
    await venue.browser.close();
  }
});
