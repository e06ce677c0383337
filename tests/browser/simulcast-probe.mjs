// What the camera's simulcast layers really carry, in Chromium (or Firefox,
// PROBE_BROWSER=firefox for the first participant) against a running
// server with demo meetings: per second, the publisher's outbound streams
// per rid (resolution, frame rate, kbit/s, quality limitation) and what the
// others decode of it. A report, no assertions.
//
//   HUIYI_BASE=http://127.0.0.1:8470 node simulcast-probe.mjs
//   PROBE_N (2..4 participants), PROBE_S (seconds, 20), PROBE_CAM (the first
//   participant's camera, e.g. 1280x720; default the fake 640x480),
//   PROBE_BROWSER (chromium | firefox: the first participant's browser)

import { participant, until } from './lib.mjs';
import { firefoxParticipant } from './firefox.mjs';

const env = process.env;
const BASE = env.HUIYI_BASE || 'http://127.0.0.1:8470';
const N = Number(env.PROBE_N || 2);
const SECONDS = Number(env.PROBE_S || 20);
const CAM = env.PROBE_CAM || '';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/// Asks getUserMedia for `w`×`h` video whatever the page asks for.
function cameraInit([w, h]) {
  const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = (c) => gum(c?.video ? { ...c, video: { width: { exact: w }, height: { exact: h } } } : c);
}

const room = `probe-${Date.now() % 100000}`;
const url = `${BASE}/?demo=${room}`;
const people = [];
try {
  for (let i = 0; i < N; i++) {
    const init = i === 0 && CAM ? { content: `(${cameraInit})(${JSON.stringify(CAM.split('x').map(Number))})` } : null;
    const p = i === 0 && env.PROBE_BROWSER === 'firefox' ? await firefoxParticipant(url, { init }) : await participant(url, { init });
    p.label = String.fromCharCode(65 + i);
    people.push(p);
    await p.page.waitForSelector('#join:not([disabled])', { timeout: 30000 });
    await p.page.fill('#name', `probe ${p.label}`);
    await p.page.click('#join');
    await until(p.page, () => !!window.huiyi?.session?.pc && !!window.huiyi.me, undefined, 30000);
  }
  for (const p of people) {
    await until(p.page, (n) => [...document.querySelectorAll('.tile:not(.screen)')]
      .filter((t) => t.dataset.participant !== window.huiyi.me.id)
      .filter((t) => t.querySelector('video').videoWidth > 0).length === n, N - 1, 40000);
  }
  const [a] = people;
  const idA = await a.page.evaluate(() => window.huiyi.me.id);
  const sdp = await a.page.evaluate(() => ({
    offer: window.huiyi.session.pc.localDescription.sdp.split('\r\n').filter((l) => /^a=(simulcast|rid)|^m=video/.test(l)),
    answer: window.huiyi.session.pc.remoteDescription.sdp.split('\r\n').filter((l) => /^a=(simulcast|rid|extmap:.*(rtp-stream-id|sdes:mid))|^m=video/.test(l)),
    encodings: window.huiyi.session.pc.getTransceivers().filter((t) => t.sender.track?.kind === 'video').map((t) => t.sender.getParameters().encodings),
    camera: window.huiyi.local.getVideoTracks()[0]?.getSettings(),
    ua: navigator.userAgent,
  }));
  console.log(JSON.stringify(sdp, null, 1));
  let prev = null;
  const rx = new Map();
  for (let s = 0; s < SECONDS; s++) {
    await sleep(1000);
    const layers = await a.page.evaluate(() => window.huiyi.session.cameraLayers());
    const now = Date.now();
    const row = [];
    for (const l of layers) {
      const p = prev?.layers.find((x) => x.rid === l.rid);
      const kbps = p ? Math.round(((l.bytesSent - p.bytesSent) * 8) / (now - prev.t)) : 0;
      const fps = p ? Math.round(((l.framesSent - p.framesSent) * 1000) / (now - prev.t)) : 0;
      row.push(`${l.rid}:${l.width}x${l.height} ${fps}fps ${kbps}k ${l.limitation}${l.scalabilityMode ? ` ${l.scalabilityMode}` : ''}`);
    }
    prev = { t: now, layers };
    for (const p of people.slice(1)) {
      const v = await p.page.evaluate(async (idA) => {
        const h = window.huiyi;
        let out = null;
        (await h.session.pc.getStats()).forEach((s) => {
          if (s.type !== 'inbound-rtp' || s.kind !== 'video') return;
          const info = h.tracks.get(h.session.trackIdOfMid(s.mid));
          if (info?.participant === idA && info.source === 'camera') out = { w: s.frameWidth ?? 0, h: s.frameHeight ?? 0, frames: s.framesDecoded ?? 0, bytes: s.bytesReceived ?? 0 };
        });
        return out;
      }, idA);
      const q = rx.get(p.label);
      if (v && q) row.push(`| ${p.label}←A ${v.w}x${v.h} ${v.frames - q.frames}fps ${Math.round(((v.bytes - q.bytes) * 8) / 1000)}k`);
      rx.set(p.label, v);
    }
    console.log(`${String(s + 1).padStart(3)}s ${row.join('  ')}`);
  }
  for (const p of people) {
    const ev = await p.page.evaluate(() => window.huiyi.events.filter((e) => ['error', 'video_paused', 'video_resumed'].includes(e.type)).map((e) => ({ type: e.type, ...e.detail })));
    if (ev.length) console.log(`${p.label} events: ${JSON.stringify(ev)}`);
  }
} finally {
  await Promise.all(people.map((p) => p.browser.close().catch(() => {})));
}
