// What the camera's simulcast layers really carry, in Chromium (or Firefox,
// PROBE_BROWSERS=firefox,… for some participants) against a running
// server with demo meetings: the SDP's simulcast lines, then per second the
// first participant's (A's) bytes on the wire and outbound streams per rid
// (resolution, frames/s, kbit/s, quality limitation, scalability mode) and
// what the others decode of A: resolution, frames decoded (received)/s,
// kbit/s, and keyframes decoded, PLIs sent, packets lost when they grew;
// at the end the error / video_paused / video_resumed notices each page got.
// A report, no assertions.
//
// Firefox runs with the permission and loopback preferences of firefox.mjs:
// the server's media may stay on 127.0.0.1.
//
//   HUIYI_BASE=http://127.0.0.1:8470 node simulcast-probe.mjs
//   PROBE_N (2..4 participants), PROBE_S (seconds, 20), PROBE_CAM (the first
//   participant's camera, e.g. 1280x720; default the fake 640x480),
//   PROBE_BROWSERS (each participant's browser in order, chromium or firefox,
//   e.g. firefox,chromium; the rest Chromium),
//   PROBE_SIMULCAST=0 (every participant sends its camera as one stream, as
//   before simulcast: for comparison)

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

/// Takes the sendEncodings out of addTransceiver: one stream per camera.
function noSimulcast() {
  const add = RTCPeerConnection.prototype.addTransceiver;
  RTCPeerConnection.prototype.addTransceiver = function (what, init = {}) {
    const { sendEncodings, ...rest } = init;
    return add.call(this, what, rest);
  };
}

const room = `probe-${Date.now() % 100000}`;
const url = `${BASE}/?demo=${room}`;
const people = [];
try {
  for (let i = 0; i < N; i++) {
    const scripts = [];
    if (i === 0 && CAM) scripts.push(`(${cameraInit})(${JSON.stringify(CAM.split('x').map(Number))});`);
    if (env.PROBE_SIMULCAST === '0') scripts.push(`(${noSimulcast})();`);
    const init = scripts.length ? { content: scripts.join('\n') } : null;
    const browser = (env.PROBE_BROWSERS || '').split(',')[i] || 'chromium';
    const p = browser === 'firefox' ? await firefoxParticipant(url, { init }) : await participant(url, { init });
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
    answer: window.huiyi.session.pc.remoteDescription.sdp.split('\r\n').filter((l) => /^a=(simulcast|rid|extmap|rtcp-fb:.*transport-cc)|^m=video/.test(l)),
    encodings: window.huiyi.session.pc.getTransceivers().filter((t) => t.sender.track?.kind === 'video').map((t) => t.sender.getParameters().encodings),
    camera: window.huiyi.local.getVideoTracks()[0]?.getSettings(),
    ua: navigator.userAgent,
  }));
  console.log(JSON.stringify(sdp, null, 1));
  let prev = null;
  const rx = new Map();
  for (let s = 0; s < SECONDS; s++) {
    await sleep(1000);
    const { layers, wire } = await a.page.evaluate(async () => {
      let wire = 0; // bytes sent on the selected candidate pair: everything on the wire, padding too
      (await window.huiyi.session.pc.getStats()).forEach((s) => { if (s.type === 'candidate-pair' && s.nominated && s.bytesSent > wire) wire = s.bytesSent; });
      return { layers: await window.huiyi.session.cameraLayers(), wire };
    });
    const now = Date.now();
    const row = [`wire ${prev ? Math.round(((wire - prev.wire) * 8) / (now - prev.t)) : 0}k |`];
    for (const l of layers) {
      const p = prev?.layers.find((x) => x.rid === l.rid);
      const kbps = p ? Math.round(((l.bytesSent - p.bytesSent) * 8) / (now - prev.t)) : 0;
      const fps = p ? Math.round(((l.framesSent - p.framesSent) * 1000) / (now - prev.t)) : 0;
      row.push(`${l.rid}:${l.width}x${l.height} ${fps}fps ${kbps}k ${l.limitation}${l.scalabilityMode ? ` ${l.scalabilityMode}` : ''}`);
    }
    prev = { t: now, layers, wire };
    for (const p of people.slice(1)) {
      const v = await p.page.evaluate(async (idA) => {
        const h = window.huiyi;
        let out = null;
        (await h.session.pc.getStats()).forEach((s) => {
          if (s.type !== 'inbound-rtp' || s.kind !== 'video') return;
          const info = h.tracks.get(h.session.trackIdOfMid(s.mid));
          if (info?.participant === idA && info.source === 'camera') {
            out = { w: s.frameWidth ?? 0, h: s.frameHeight ?? 0, frames: s.framesDecoded ?? 0, bytes: s.bytesReceived ?? 0,
              received: s.framesReceived ?? 0, pli: s.pliCount ?? 0, keys: s.keyFramesDecoded ?? 0, lost: s.packetsLost ?? 0, nack: s.nackCount ?? 0 };
          }
        });
        return out;
      }, idA);
      const q = rx.get(p.label);
      // Frames decoded (and received), kbit/s; then, when they grew: keyframes decoded, PLIs sent, packets lost.
      const grew = ['keys', 'pli', 'lost'].filter((k) => v && q && v[k] > q[k]).map((k) => `${k}+${v[k] - q[k]}`).join(' ');
      if (v && q) row.push(`| ${p.label}←A ${v.w}x${v.h} ${v.frames - q.frames}(${v.received - q.received})fps ${Math.round(((v.bytes - q.bytes) * 8) / 1000)}k${grew ? ` ${grew}` : ''}`);
      rx.set(p.label, v);
    }
    console.log(`${String(s + 1).padStart(3)}s ${row.join('  ')}`);
  }
  for (const p of people) {
    const ev = await p.page.evaluate(() => window.huiyi.events.filter((e) => ['error', 'video_paused', 'video_resumed'].includes(e.type))
      .map((e) => ({ type: e.type, at: e.at, ...e.detail })));
    const t0 = ev[0]?.at;
    if (ev.length) console.log(`${p.label} events: ${ev.map((e) => `${((e.at - t0) / 1000).toFixed(1)}s ${e.type} ${e.track ?? ''} ${e.code ?? ''} ${e.message ?? ''}`.trim()).join(', ')}`);
  }
  console.log(`load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')}`);
} finally {
  await Promise.all(people.map((p) => p.browser.close().catch(() => {})));
}
