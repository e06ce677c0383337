// Helpers for the weak-link scenario (weaklink.test.mjs): Chromium inside a
// network namespace, the link emulator's control socket, the Huiyi server
// started inside the server namespace, an in-page getStats sampler, and the
// per-phase figures computed from its samples.

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';

import { CHROMIUM, chromiumFlags } from './lib.mjs';
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/// lib.mjs's flags, with the namespaces' server and weak-side addresses let
/// through the host resolver rules.
const FLAGS = chromiumFlags(['127.1.0.1', '127.2.0.1']);

let scratchDir = null; // profiles, the Chromium wrapper, the server's data: made on first use
function scratch() { return (scratchDir ??= mkdtempSync(join(tmpdir(), 'huiyi-weaklink-'))); }
export function cleanupScratch() { if (scratchDir) rmSync(scratchDir, { recursive: true, force: true }); scratchDir = null; }

/// An executable that runs Chromium inside network namespace `ns` (playwright
/// takes one executable path; nsenter keeps its pipes, fds 3 and 4).
function chromiumIn(ns) {
  if (!ns) return CHROMIUM;
  const path = join(scratch(), `chromium-${ns}.sh`);
  writeFileSync(path, `#!/bin/sh\nexec nsenter --net=/run/netns/${ns} -- ${CHROMIUM} "$@"\n`);
  chmodSync(path, 0o755);
  return path;
}

/// A participant: its own Chromium process (in namespace `ns`) and one
/// page; `extraArgs`: more Chromium flags.
export async function participantIn(ns, url, label, extraArgs = []) {
  const browser = await chromium.launchPersistentContext(mkdtempSync(join(scratch(), 'profile-')), {
    executablePath: chromiumIn(ns),
    headless: true,
    args: [...FLAGS, ...extraArgs],
    viewport: { width: 1400, height: 1000 },
    permissions: ['camera', 'microphone'],
  });
  const page = browser.pages()[0] || await browser.newPage();
  page.on('console', (m) => { if (process.env.HUIYI_BROWSER_LOG) console.log(`[${label}] ${m.text()}`); });
  try {
    await page.goto(url, { timeout: 30000 });
  } catch (e) {
    await browser.close();
    throw e;
  }
  return { browser, page, label, ns };
}

// ---------------------------------------------------------------- link emulator

/// Sends one command to linkem's control socket; resolves to its JSON reply.
export function linkem(ctl, command) {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(ctl);
    let buf = '';
    s.setTimeout(5000, () => { s.destroy(); reject(new Error(`linkem ${command}: timeout`)); });
    s.on('connect', () => s.write(`${command}\n`));
    s.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) { s.end(); resolve(JSON.parse(buf)); }
    });
    s.on('error', reject);
  });
}

// ---------------------------------------------------------------- the server

/// Starts `bin` (the huiyi binary) inside namespace `ns`, listening on
/// `addr`:8470 (HTTP) and `addr`:40000 (media), demo meetings on; resolves
/// to {base, stop()} once /healthz answers.
export async function startServer(bin, ns, addr, logFile) {
  const dataDir = mkdtempSync(join(scratch(), 'data-'));
  const out = openSync(logFile || join(scratch(), 'huiyi.log'), 'a');
  const args = ['--net=/run/netns/' + ns, '--', bin, '--data-dir', dataDir, '--listen', `${addr}:8470`,
    '--set', `sfu.bind_address=${addr}`, '--set', 'sfu.udp_port=40000', '--set', 'sfu.workers=1',
    '--set', 'signaling.demo=true'];
  // huiyi reads HUIYI_* variables as configuration (HUIYI_SFU_UDP_PORT…):
  // the test's own HUIYI_BIN, HUIYI_WEAKLINK_* must not reach it. Only
  // HUIYI_DEV_ASSETS (serve web-client/ from disk) goes through; more
  // settings: HUIYI_WEAKLINK_SERVER_ARGS, e.g. "--set log.level=debug".
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HUIYI_') || k === 'HUIYI_DEV_ASSETS'));
  args.push(...(process.env.HUIYI_WEAKLINK_SERVER_ARGS || '').split(/\s+/).filter(Boolean));
  const child = spawn('nsenter', args, { stdio: ['ignore', out, out], env });
  let exited = null;
  child.on('exit', (code, sig) => { exited = `exited ${code ?? sig}`; });
  const base = `http://${addr}:8470`;
  const server = {
    base,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      for (let i = 0; i < 50 && !exited; i++) await sleep(100);
      if (!exited) child.kill('SIGKILL');
    },
  };
  for (let i = 0; i < 100; i++) {
    if (exited) throw new Error(`huiyi ${exited} (log: ${logFile})`);
    // The probe runs in the server namespace too (this process is outside).
    const ok = await new Promise((resolve) => {
      const c = spawn('nsenter', ['--net=/run/netns/' + ns, '--', 'curl', '-sf', '-o', '/dev/null', `${base}/healthz`], { stdio: 'ignore' });
      c.on('exit', (code) => resolve(code === 0));
    });
    if (ok) return server;
    await sleep(200);
  }
  await server.stop();
  throw new Error(`huiyi did not answer ${base}/healthz (log: ${logFile})`);
}

// ---------------------------------------------------------------- sampling

/// Installs a sampler in the page: once a second, getStats of the page's
/// peer connection (window.huiyi.session.pc), reduced to what the report
/// needs, kept in window.__weaklink.samples.
export async function startSampler(page) {
  await page.evaluate(() => {
    if (window.__weaklink) return;
    const w = { samples: [] };
    window.__weaklink = w;
    let pcSeq = 0;
    const pick = (s, keys) => Object.fromEntries(keys.filter((k) => s[k] !== undefined).map((k) => [k, s[k]]));
    w.timer = setInterval(async () => {
      const h = window.huiyi;
      const pc = h?.session?.pc;
      if (!pc) return;
      if (!pc.__weaklinkId) pc.__weaklinkId = ++pcSeq; // a rebuilt connection restarts its counters
      const stats = await pc.getStats();
      const sample = { t: Date.now(), pc: pc.__weaklinkId, speaker: h.speaker ?? null, ice: pc.iceConnectionState, inbound: [], outbound: [], pair: null };
      stats.forEach((s) => {
        if (s.type === 'inbound-rtp') {
          const trackId = h.session.trackIdOfMid(s.mid);
          const info = h.tracks.get(trackId);
          sample.inbound.push({
            id: s.id, mid: s.mid, kind: s.kind, participant: info?.participant ?? null, source: info?.source ?? null,
            ...pick(s, ['packetsReceived', 'packetsLost', 'bytesReceived', 'framesDecoded', 'framesReceived', 'framesDropped',
              'keyFramesDecoded', 'frameWidth', 'frameHeight', 'framesPerSecond', 'freezeCount', 'totalFreezesDuration',
              'pauseCount', 'totalPausesDuration', 'nackCount', 'pliCount', 'firCount', 'concealedSamples',
              'silentConcealedSamples', 'totalSamplesReceived', 'concealmentEvents', 'jitter', 'jitterBufferDelay',
              'jitterBufferEmittedCount']),
          });
        } else if (s.type === 'outbound-rtp') {
          const tr = pc.getTransceivers().find((x) => x.mid === s.mid);
          sample.outbound.push({
            id: s.id, mid: s.mid, kind: s.kind, rid: s.rid ?? null, source: tr ? h.session.sources.get(tr) ?? null : null,
            ...pick(s, ['packetsSent', 'bytesSent', 'framesEncoded', 'framesSent', 'frameWidth', 'frameHeight',
              'framesPerSecond', 'qualityLimitationReason', 'targetBitrate', 'retransmittedPacketsSent', 'nackCount', 'pliCount', 'active']),
          });
        } else if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
          sample.pair = pick(s, ['currentRoundTripTime', 'availableOutgoingBitrate', 'availableIncomingBitrate', 'bytesSent', 'bytesReceived']);
        }
      });
      w.samples.push(sample);
    }, 1000);
  });
}

export async function samplesOf(page) {
  return page.evaluate(() => window.__weaklink?.samples ?? []);
}

// ---------------------------------------------------------------- figures

/// Per-second series of one received stream: an array of
/// {t, dt, frames, fps, freezes, freezeDur, width, height, kbps, concealed, samples, lost, received}.
/// Counters that go backwards (a rebuilt peer connection) start a new series.
function seriesFor(samples, pick) {
  const out = [];
  let prev = null;
  for (const s of samples) {
    const cur = pick(s);
    if (!cur) { prev = null; continue; }
    if (prev && prev.pc === s.pc && prev.id === cur.id) {
      const dt = (s.t - prev.t) / 1000;
      const d = (k) => Math.max(0, (cur[k] ?? 0) - (prev.stat[k] ?? 0));
      out.push({
        t: s.t, dt, frames: d('framesDecoded'), fps: d('framesDecoded') / dt, framesIn: d('framesReceived'),
        freezes: d('freezeCount'), freezeDur: d('totalFreezesDuration'),
        width: cur.frameWidth ?? 0, height: cur.frameHeight ?? 0,
        kbps: (d('bytesReceived') * 8) / dt / 1000,
        concealed: d('concealedSamples'), samples: d('totalSamplesReceived'),
        lost: d('packetsLost'), received: d('packetsReceived'),
        plis: d('pliCount'), keyframes: d('keyFramesDecoded'), nacks: d('nackCount'),
      });
    }
    prev = { pc: s.pc, id: cur.id, t: s.t, stat: cur };
  }
  return out;
}

const sum = (xs, f) => xs.reduce((a, x) => a + f(x), 0);
const round = (x, n = 1) => (x == null || Number.isNaN(x) ? null : Math.round(x * 10 ** n) / 10 ** n);

/// Figures of one received video stream over the seconds `xs` of a phase.
function videoFigures(xs) {
  if (xs.length === 0) return null;
  const seconds = sum(xs, (x) => x.dt);
  // Longest stall: consecutive seconds without a new decoded frame (also
  // catches a picture that stopped for good, which freezeCount never counts).
  let stall = 0; let run = 0; let stallEndT = null;
  for (const x of xs) {
    run = x.frames === 0 ? run + x.dt : 0;
    if (run > stall) { stall = run; stallEndT = x.t; }
  }
  // Longest freeze by Chromium's definition: freezes end in a sample
  // interval; with one ending per interval its duration is exact. Only its
  // part within the phase counts: a freeze that began in the phase before
  // (for "shaped", in the first 10 s on the line, which issue 12 leaves
  // out) and ended early in this one is that phase's, not this one's.
  const phaseStart = xs[0].t - xs[0].dt * 1000;
  const inPhase = (x) => Math.min(x.freezeDur / x.freezes, Math.max(0, (x.t - phaseStart) / 1000));
  const maxFreeze = Math.max(0, ...xs.filter((x) => x.freezes > 0).map(inPhase));
  const freezeEndT = xs.find((x) => x.freezes > 0 && inPhase(x) === maxFreeze)?.t ?? null;
  const heights = xs.filter((x) => x.frames > 0).map((x) => x.height);
  const widths = xs.filter((x) => x.frames > 0).map((x) => x.width);
  return {
    seconds: round(seconds),
    fps: round(sum(xs, (x) => x.frames) / seconds),
    // Complete frames that arrived (decoded or not): what the server
    // delivered, whatever the receiving machine had left to decode them.
    receivedFps: round(sum(xs, (x) => x.framesIn) / seconds),
    minFps: round(Math.min(...xs.map((x) => x.fps))),
    zeroFpsSeconds: xs.filter((x) => x.frames === 0).length,
    freezes: sum(xs, (x) => x.freezes),
    freezeSeconds: round(sum(xs, (x) => x.freezeDur), 2),
    maxFreezeS: round(Math.max(maxFreeze, stall), 2),
    longestStallS: round(stall),
    // When the longest freeze or stall ended (ms since epoch).
    worstEndT: stall >= maxFreeze ? stallEndT : freezeEndT,
    width: widths.length ? Math.max(...widths) : 0,
    height: heights.length ? Math.max(...heights) : 0,
    minHeight: heights.length ? Math.min(...heights) : 0,
    kbps: round(sum(xs, (x) => x.kbps * x.dt) / seconds, 0),
    lossPct: round((100 * sum(xs, (x) => x.lost)) / Math.max(1, sum(xs, (x) => x.lost + x.received))),
  };
}

function audioFigures(xs) {
  if (xs.length === 0) return null;
  const seconds = sum(xs, (x) => x.dt);
  const samples = sum(xs, (x) => x.samples);
  const packets = sum(xs, (x) => x.received);
  return {
    seconds: round(seconds),
    packets,
    // Without packets (a closed microphone: the server forwards nothing) the
    // receiver only plays concealment; that says nothing about the link.
    concealmentPct: samples > 0 && packets > 0 ? round((100 * sum(xs, (x) => x.concealed)) / samples, 2) : null,
    kbps: round(sum(xs, (x) => x.kbps * x.dt) / seconds, 0),
    lossPct: round((100 * sum(xs, (x) => x.lost)) / Math.max(1, sum(xs, (x) => x.lost + x.received))),
  };
}

/// What a publisher sent per phase: its camera's top layer (largest
/// frameHeight among its outbound video streams) and that layer's frame rate.
function sentFigures(samples, phases) {
  const series = new Map(); // outbound id → per-second {t, fps, height, kbps, limitation}
  let prev = new Map();
  for (const s of samples) {
    const now = new Map();
    for (const o of s.outbound) {
      if (o.kind !== 'video' || o.source !== 'camera') continue;
      const key = `${s.pc}/${o.id}`;
      const p = prev.get(key);
      if (p) {
        const dt = (s.t - p.t) / 1000;
        if (!series.has(key)) series.set(key, []);
        series.get(key).push({
          t: s.t, dt, fps: Math.max(0, (o.framesSent ?? 0) - (p.o.framesSent ?? 0)) / dt, height: o.frameHeight ?? 0, width: o.frameWidth ?? 0,
          kbps: (Math.max(0, (o.bytesSent ?? 0) - (p.o.bytesSent ?? 0)) * 8) / dt / 1000, limitation: o.qualityLimitationReason,
        });
      }
      now.set(key, { t: s.t, o });
    }
    prev = now;
  }
  const out = {};
  for (const [name, [from, to]] of Object.entries(phases)) {
    let best = null;
    for (const xs of series.values()) {
      const ys = xs.filter((x) => x.t > from && x.t <= to);
      if (!ys.length) continue;
      const seconds = sum(ys, (y) => y.dt);
      const f = {
        fps: round(sum(ys, (y) => y.fps * y.dt) / seconds), height: Math.max(...ys.map((y) => y.height)),
        width: Math.max(...ys.map((y) => y.width)), kbps: round(sum(ys, (y) => y.kbps * y.dt) / seconds, 0),
        limitation: [...new Set(ys.map((y) => y.limitation).filter(Boolean))].join('/'),
        layers: series.size,
      };
      if (!best || f.height > best.height) best = f;
    }
    out[name] = best;
  }
  return out;
}

/// The report: for every receiver, for every publisher it receives, figures
/// per phase; `phases` maps a phase name to [from, to] (ms since epoch).
export function figures(people, samplesByLabel, phases, labelOf) {
  const report = { phases: {}, receivers: {}, sent: {} };
  const t0 = phases[Object.keys(phases)[0]][0];
  for (const [name, [from, to]] of Object.entries(phases)) report.phases[name] = { fromS: round((from - t0) / 1000), toS: round((to - t0) / 1000) };
  for (const p of people) {
    const samples = samplesByLabel[p.label];
    report.sent[p.label] = sentFigures(samples, phases);
    const rx = {};
    const keys = new Map(); // `${publisher}/${kind}` → pick(sample)
    for (const s of samples) {
      for (const i of s.inbound) {
        if (!i.participant || (i.kind === 'video' && i.source !== 'camera')) continue;
        keys.set(`${labelOf(i.participant)}/${i.kind}`, { participant: i.participant, kind: i.kind });
      }
    }
    for (const [key, { participant, kind }] of keys) {
      // More than one inbound stream may be attributed to one publisher and
      // kind: another SSRC on its line (before ADR 0022 the server's probe
      // padding went on a microphone's line and showed as a stream of 1–5
      // packets beside the audio), or a second m-line. The figures are the stream's that ended
      // with the most packets (the one that went on; the first one found
      // could be a stale stream, reported as "no packets" all run), before
      // it appeared the first one found; all are listed below.
      const last = new Map();
      for (const s of samples) {
        for (const i of s.inbound) {
          if (i.participant === participant && i.kind === kind) last.set(i.id, { mid: i.mid, packets: i.packetsReceived ?? 0 });
        }
      }
      const liveId = [...last.entries()].reduce((a, b) => (a && a[1].packets >= b[1].packets ? a : b), null)?.[0];
      const series = seriesFor(samples, (s) => s.inbound.find((i) => i.id === liveId)
        ?? s.inbound.find((i) => i.participant === participant && i.kind === kind) ?? null);
      rx[key] = {};
      for (const [name, [from, to]] of Object.entries(phases)) {
        const xs = series.filter((x) => x.t > from && x.t <= to);
        rx[key][name] = kind === 'video' ? videoFigures(xs) : audioFigures(xs);
      }
      if (last.size > 1) rx[key].streams = [...last.values()];
      rx[key].perSecond = series.map((x) => [round((x.t - t0) / 1000), kind === 'video' ? round(x.fps) : round(x.samples ? (100 * x.concealed) / x.samples : null), kind === 'video' ? x.height : null]);
    }
    report.receivers[p.label] = rx;
    report.speakers = report.speakers || {};
    report.speakers[p.label] = [...new Set(samples.map((s) => labelOf(s.speaker)).filter(Boolean))];
  }
  return report;
}

/// Per second around a freeze of `participant`'s video ending at `endT`
/// (ms since epoch): what the receiver saw, to tell a lost keyframe (PLIs
/// sent, no keyframe decoded) from a stream that stopped (nothing received).
export function stallDetail(samples, participant, endT, t0) {
  const series = seriesFor(samples, (s) => s.inbound.find((i) => i.participant === participant && i.kind === 'video') ?? null);
  return series
    .filter((x) => x.t >= endT - 8000 && x.t <= endT + 3000)
    .map((x) => `    ${round((x.t - t0) / 1000)}s: ${x.frames} frames ${x.height}p, ${x.received} packets received, ${x.lost} lost, ${x.nacks} NACKs, ${x.plis} PLIs, ${x.keyframes} keyframes decoded`);
}

/// Seconds from `healAt` until the stream's height first reaches `topHeight`
/// at ≥ `minFps` (null: never).
export function recoverySeconds(samples, participant, healAt, topHeight, minFps) {
  const series = seriesFor(samples, (s) => s.inbound.find((i) => i.participant === participant && i.kind === 'video') ?? null);
  const x = series.find((y) => y.t > healAt && y.height >= topHeight && y.fps >= minFps);
  return x ? round((x.t - healAt) / 1000) : null;
}

// ---------------------------------------------------------------- pauses

/// The video_paused / video_resumed notices a page received (from
/// window.huiyi.events): [{type, track, at, participant, source}].
export async function noticesOf(page) {
  return page.evaluate(() => {
    const h = window.huiyi;
    return (h?.events ?? []).filter((e) => e.type === 'video_paused' || e.type === 'video_resumed').map((e) => {
      const track = e.track ?? e.detail?.track;
      const info = h.tracks.get(track);
      return { type: e.type, track, at: e.at ?? null, participant: info?.participant ?? null, source: info?.source ?? null };
    });
  });
}

/// Per publisher (`label/source`), per phase: how many pauses began and
/// how long its video was paused (s) for this receiver. A pause still
/// running at the end of the notices runs to `endAt`.
export function pauseFigures(notices, phases, labelOf, endAt) {
  const spans = new Map(); // key → [[from, to]]
  const open = new Map(); // track → {key, from}
  for (const n of notices) {
    const key = `${labelOf(n.participant) ?? n.track}/${n.source ?? 'video'}`;
    if (n.type === 'video_paused' && !open.has(n.track)) open.set(n.track, { key, from: n.at });
    if (n.type === 'video_resumed' && open.has(n.track)) {
      const o = open.get(n.track);
      open.delete(n.track);
      if (!spans.has(o.key)) spans.set(o.key, []);
      spans.get(o.key).push([o.from, n.at]);
    }
  }
  for (const o of open.values()) {
    if (!spans.has(o.key)) spans.set(o.key, []);
    spans.get(o.key).push([o.from, endAt]);
  }
  const out = {};
  for (const [key, xs] of spans) {
    out[key] = {};
    for (const [name, [from, to]] of Object.entries(phases)) {
      const began = xs.filter(([a]) => a > from && a <= to).length;
      const seconds = xs.reduce((s, [a, b]) => s + Math.max(0, Math.min(b, to) - Math.max(a, from)), 0) / 1000;
      out[key][name] = { pauses: began, pausedS: round(seconds) };
    }
  }
  return out;
}
