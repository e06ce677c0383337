// Issue 12's acceptance scenario: a meeting of three in real Chromium, one
// of them (the township venue W) behind an emulated township line; two (A,
// the speaker, and B) on the server's own network. The line is shaped for a
// while, then healed; every page samples getStats once a second and the
// report gives per phase what each participant received from each other:
// video frame rate, freezes, resolution; audio concealment.
//
// Runs inside tests/netlink/setup.sh (root), which creates the namespaces
// and the link emulator and gives this file:
//   HY_SRV_NS, HY_WEAK_NS   namespaces of the server side and of W
//   HY_SRV_ADDR             the server side's address (127.1.0.1)
//   HY_LINKEM_CTL           linkem's control socket (heal/shape/stats)
// The server, one of (first wins):
//   HUIYI_LINKS   JSON array of three join links (A, B, W) on a server reachable
//                 at HY_SRV_ADDR from both namespaces
//   HUIYI_BASE    such a server's base URL with demo meetings on (/?demo=ROOM)
//   HUIYI_BIN     a huiyi binary: this file starts it inside HY_SRV_NS
//                 (HY_SRV_ADDR:8470, media HY_SRV_ADDR:40000, demo on)
//                 (huiyi takes HUIYI_* variables as configuration: only HUIYI_DEV_ASSETS
//                 reaches the started server; HUIYI_WEAKLINK_SERVER_ARGS adds arguments,
//                 e.g. "--set log.level=debug".)
// Timing (seconds): HUIYI_WEAKLINK_WARM_S (5, unshaped, before shaping),
//   HUIYI_WEAKLINK_SHAPED_S (40), HUIYI_WEAKLINK_SETTLE_S (10, the first
//   shaped seconds left out of the shaped figures), HUIYI_WEAKLINK_HEALED_S (15).
// HUIYI_WEAKLINK_SPEAKER_ONLY (1): B and W close their microphones, so A is
//   the active speaker (0: everyone's microphone stays open).
// Output: a report on stdout; HUIYI_WEAKLINK_REPORT, if set, a file for the
//   figures as JSON (for a Rust test to assert on; `key` holds the targets'
//   figures; HUIYI_WEAKLINK_RAW=1 adds every page's raw samples);
//   HUIYI_WEAKLINK_SERVER_LOG, the started server's log file.
// Assertions: none here unless HUIYI_WEAKLINK_ASSERT=1 (for a run by hand;
//   in `cargo test`, tests/tests/weaklink.rs holds the issue's targets on
//   the JSON figures, with allowances for a starved machine). Then, with
//   these defaults:
//   HUIYI_WEAKLINK_MIN_FPS=10          W receives A's video at ≥ this while shaped
//   HUIYI_WEAKLINK_MAX_FREEZE_S=1      … with no freeze (or stall) longer than this
//   HUIYI_WEAKLINK_MAX_CONCEALMENT=3   … and A's audio concealed < this % of samples
//   HUIYI_WEAKLINK_TOLERANCE=10        A and B receive each other's video within this %
//                                      of their unshaped frame rate (the better of the
//                                      warm and healed phases), at the same height
//   HUIYI_WEAKLINK_RECOVERY_S=10       after healing W is back to A's top layer within this
//   HUIYI_WEAKLINK_RECOVERY_FPS=5      … decoded at ≥ this (moving: three Chromiums on 2
//                                      cores decode the top layer slower than the
//                                      bottom one; once the server sent it at 23 s but
//                                      W decoded it at 8 fps, and MIN_FPS said "never")

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { until } from './lib.mjs';
import {
  participantIn, startServer, linkem, startSampler, samplesOf, figures, recoverySeconds, stallDetail, sleep, cleanupScratch,
  noticesOf, pauseFigures,
} from './weaklink-lib.mjs';

const env = process.env;
const num = (name, dflt) => (env[name] !== undefined && env[name] !== '' ? Number(env[name]) : dflt);
const WARM_S = num('HUIYI_WEAKLINK_WARM_S', 5);
const SHAPED_S = num('HUIYI_WEAKLINK_SHAPED_S', 40);
const SETTLE_S = num('HUIYI_WEAKLINK_SETTLE_S', 10);
const HEALED_S = num('HUIYI_WEAKLINK_HEALED_S', 15);
const SPEAKER_ONLY = env.HUIYI_WEAKLINK_SPEAKER_ONLY !== '0';
const ASSERT = env.HUIYI_WEAKLINK_ASSERT === '1';
const MIN_FPS = num('HUIYI_WEAKLINK_MIN_FPS', 10);
const RECOVERY_FPS = num('HUIYI_WEAKLINK_RECOVERY_FPS', 5);
const MAX_FREEZE_S = num('HUIYI_WEAKLINK_MAX_FREEZE_S', 1);
const MAX_CONCEALMENT = num('HUIYI_WEAKLINK_MAX_CONCEALMENT', 3);
const TOLERANCE = num('HUIYI_WEAKLINK_TOLERANCE', 10);
const RECOVERY_S = num('HUIYI_WEAKLINK_RECOVERY_S', 10);

const { HY_SRV_NS, HY_WEAK_NS, HY_LINKEM_CTL } = env;
const SRV_ADDR = env.HY_SRV_ADDR || '127.1.0.1';

function log(msg) { console.log(`weaklink ${new Date().toISOString().slice(11, 19)} ${msg}`); }

/// The join URLs of A, B, W, and the server to stop afterwards (if started here).
async function server() {
  if (env.HUIYI_LINKS) return { urls: JSON.parse(env.HUIYI_LINKS), stop: async () => {} };
  let base = env.HUIYI_BASE;
  let started = null;
  if (!base) {
    assert.ok(env.HUIYI_BIN, 'HUIYI_LINKS, HUIYI_BASE or HUIYI_BIN');
    started = await startServer(env.HUIYI_BIN, HY_SRV_NS, SRV_ADDR, env.HUIYI_WEAKLINK_SERVER_LOG);
    base = started.base;
    log(`server ${env.HUIYI_BIN} in ${HY_SRV_NS} at ${base}`);
  }
  const room = `weaklink-${Date.now() % 100000}`;
  const urls = ['A', 'B', 'W'].map(() => `${base}/?demo=${room}`);
  return { urls, names: ['县政府 A', '县直 B', '乡镇 W'], stop: async () => started?.stop() };
}

async function join(p, name) {
  await p.page.waitForSelector('#join:not([disabled])', { timeout: 30000 });
  if (name && await p.page.locator('#demo-row').isVisible()) await p.page.fill('#name', name);
  await p.page.click('#join');
  await until(p.page, () => !!window.huiyi?.session?.pc && !!window.huiyi.me, undefined, 30000);
  await startSampler(p.page);
}

/// One line of what is happening now: frames per second received, per pair.
async function progress(people, labelOf, phase) {
  const parts = [];
  for (const p of people) {
    const last = await p.page.evaluate(() => (window.__weaklink?.samples ?? []).slice(-2)).catch(() => []);
    if (last.length < 2 || last[0].pc !== last[1].pc) continue;
    const dt = (last[1].t - last[0].t) / 1000;
    for (const i of last[1].inbound.filter((x) => x.kind === 'video' && x.source === 'camera')) {
      const j = last[0].inbound.find((x) => x.id === i.id);
      if (!j) continue;
      parts.push(`${p.label}←${labelOf(i.participant)} ${(((i.framesDecoded ?? 0) - (j.framesDecoded ?? 0)) / dt).toFixed(0)}fps ${i.frameHeight ?? 0}p`);
    }
  }
  log(`${phase.padEnd(7)} ${parts.join('  ')}`);
}

function fmtVideo(f) {
  if (!f) return '—';
  return `${f.fps.toFixed(1)}fps ${f.height}p freeze max ${f.maxFreezeS}s (${f.freezes}×, ${f.freezeSeconds}s) ${f.kbps}kb/s loss ${f.lossPct}%`;
}
function fmtAudio(f) {
  if (!f) return '—';
  if (!f.packets) return 'no packets (microphone closed)';
  return `concealed ${f.concealmentPct}% ${f.kbps}kb/s loss ${f.lossPct}%`;
}

function printReport(report) {
  const phases = Object.keys(report.phases);
  console.log('\n==== weak-link report (W behind the emulated line; A speaks) ====');
  console.log(`link: ${JSON.stringify(report.link.shaped)}`);
  console.log('(fps: frames decoded per second; freeze max: the longest of Chromium\'s freezes ending in the phase and');
  console.log(' of the runs of whole seconds without a decoded frame; shapedFirst: the first shaped seconds, left out of "shaped")');
  for (const [name, ph] of Object.entries(report.phases)) console.log(`phase ${name}: ${ph.fromS}s – ${ph.toS}s`);
  for (const [rx, streams] of Object.entries(report.receivers)) {
    console.log(`\n-- ${rx} receives --`);
    for (const [key, byPhase] of Object.entries(streams)) {
      for (const ph of phases) {
        const f = byPhase[ph];
        console.log(`  ${key.padEnd(8)} ${ph.padEnd(13)} ${key.endsWith('/video') ? fmtVideo(f) : fmtAudio(f)}`);
      }
      if (byPhase.streams) {
        console.log(`  ${key.padEnd(8)} ${byPhase.streams.length} inbound streams (the one with the most packets is reported): ${byPhase.streams.map((x) => `mid ${x.mid} ${x.packets} packets`).join(', ')}`);
      }
    }
  }
  console.log('\n-- sent (camera, top layer) --');
  for (const [who, byPhase] of Object.entries(report.sent)) {
    for (const ph of phases) {
      const f = byPhase[ph];
      console.log(`  ${who} ${ph.padEnd(13)} ${f ? `${f.fps}fps ${f.width}x${f.height} ${f.kbps}kb/s layers ${f.layers} limited by ${f.limitation || '—'}` : '—'}`);
    }
  }
  console.log('\n-- videos paused by the server (video_paused → video_resumed), per receiver --');
  for (const [rx, byPub] of Object.entries(report.pauses || {})) {
    for (const [key, byPhase] of Object.entries(byPub)) {
      console.log(`  ${rx} ← ${key.padEnd(10)} ${phases.map((ph) => `${ph} ${byPhase[ph].pauses}× ${byPhase[ph].pausedS}s`).join(', ')}`);
    }
  }
  console.log('\n-- link emulator, per phase --');
  for (const [ph, c] of Object.entries(report.link.perPhase)) {
    console.log(`  ${ph.padEnd(13)} ${['a2b', 'b2a'].map((d) => `${d === 'a2b' ? 'down' : 'up'}: fwd ${c[d].forwarded_pkts} pkts ${c[d].kbps}kb/s, lost ${c[d].dropped_loss_pkts}, queue-dropped ${c[d].dropped_queue_pkts}`).join(' | ')}`);
  }
  const k = report.key;
  console.log('\n-- the issue\'s targets --');
  console.log(`  W ← A video while shaped: ${k.weakFps} fps (target ≥ ${MIN_FPS}), longest freeze ${k.weakMaxFreezeS}s (target ≤ ${MAX_FREEZE_S})`);
  console.log(`  W ← A audio while shaped: concealment ${k.weakConcealmentPct}% (target < ${MAX_CONCEALMENT})`);
  for (const u of k.unrestricted) console.log(`  ${u.pair} video: ${u.unshapedFps} fps ${u.unshapedHeight}p unshaped (warm ${u.warmFps}, healed ${u.healedFps}) → ${u.shapedFps} fps ${u.shapedHeight}p shaped (target within ${TOLERANCE}% at the same height; frames arriving ${u.unshapedReceivedFps} → ${u.shapedReceivedFps} per second; the publisher encoded ${u.sentUnshapedFps} → ${u.sentShapedFps} fps)`);
  console.log(`  W back to A's top layer (${k.topHeight}p) ${k.recoveryS === null ? 'never' : `${k.recoveryS}s`} after healing (target ≤ ${RECOVERY_S}s)`);
  console.log(`  load average at the end: ${report.loadavg.join(' ')} (2 cores)`);
  console.log(ASSERT ? '  (asserting these targets)' : '  (report only: HUIYI_WEAKLINK_ASSERT=1 asserts them)');
}

function linkDelta(a, b, seconds) {
  const out = {};
  for (const d of ['a2b', 'b2a']) {
    const x = {};
    for (const k of ['forwarded_pkts', 'forwarded_bytes', 'dropped_loss_pkts', 'dropped_queue_pkts', 'received_pkts']) x[k] = b[d][k] - a[d][k];
    x.kbps = Math.round((x.forwarded_bytes * 8) / seconds / 1000);
    out[d] = x;
  }
  return out;
}

test('a township venue behind a 300 kbit/s lossy line, then healed', { timeout: 240000, skip: !HY_WEAK_NS && 'needs tests/netlink/setup.sh (HY_WEAK_NS unset)' }, async () => {
  const started = Date.now();
  const people = [];
  let srv = null;
  try {
    await linkem(HY_LINKEM_CTL, 'heal');
    srv = await server();
    const [ua, ub, uw] = srv.urls;
    const names = srv.names || [];
    // Chromium starts in parallel (seconds each on a loaded machine); the
    // participants join one after the other, A first.
    const launched = await Promise.allSettled([['A', HY_SRV_NS, ua], ['B', HY_SRV_NS, ub], ['W', HY_WEAK_NS, uw]]
      .map(([label, ns, url]) => participantIn(ns, url, label)));
    for (const r of launched) if (r.status === 'fulfilled') people.push(r.value);
    for (const r of launched) if (r.status === 'rejected') throw r.reason;
    for (const [i, p] of people.entries()) await join(p, names[i]);
    const ids = {};
    for (const p of people) ids[await p.page.evaluate(() => window.huiyi.me.id)] = p.label;
    const labelOf = (id) => ids[id] ?? id;
    log(`joined: ${JSON.stringify(ids)} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
    for (const p of people) {
      await until(p.page, () => [...document.querySelectorAll('.tile:not(.screen)')]
        .filter((t) => t.dataset.participant !== window.huiyi.me?.id)
        .filter((t) => t.querySelector('video').videoWidth > 0).length === 2, undefined, 30000);
    }
    const [a, b, w] = people;
    const idA = Object.keys(ids).find((id) => ids[id] === 'A');
    if (SPEAKER_ONLY) {
      for (const p of [b, w]) await p.page.click('#btn-mic');
      await sleep(1000); // their last audio packets, before the unshaped baseline starts
      await until(a.page, (idA) => window.huiyi.speaker === idA, idA, 6000).catch(() => log('A did not become the active speaker (going on)'));
    }
    log(`media flows everywhere (${((Date.now() - started) / 1000).toFixed(1)}s); unshaped for ${WARM_S}s`);

    // A phase ends on time; a progress line every 5 s in between.
    const hold = async (name, seconds) => {
      const end = Date.now() + seconds * 1000;
      for (;;) {
        await sleep(Math.max(0, Math.min(5000, end - Date.now())));
        if (Date.now() >= end - 50) return;
        await progress(people, labelOf, name);
      }
    };
    const warmAt = Date.now();
    const l0 = await linkem(HY_LINKEM_CTL, 'stats');
    await hold('warm', WARM_S);
    const shaped = await linkem(HY_LINKEM_CTL, 'shape');
    const shapeAt = Date.now();
    const l1 = await linkem(HY_LINKEM_CTL, 'stats');
    log(`shaped: ${JSON.stringify(shaped.a2b)} for ${SHAPED_S}s`);
    await hold('shaped', SHAPED_S);
    await linkem(HY_LINKEM_CTL, 'heal');
    const healAt = Date.now();
    const l2 = await linkem(HY_LINKEM_CTL, 'stats');
    log(`healed for ${HEALED_S}s`);
    await hold('healed', HEALED_S);
    const endAt = Date.now();
    const l3 = await linkem(HY_LINKEM_CTL, 'stats');

    const samples = {};
    const notices = {};
    for (const p of people) {
      samples[p.label] = await samplesOf(p.page);
      notices[p.label] = await noticesOf(p.page);
    }
    await Promise.all(people.map((p) => p.browser.close().catch(() => {}))); // the figures need no browser
    const phases = {
      warm: [warmAt, shapeAt],
      shapedFirst: [shapeAt, shapeAt + SETTLE_S * 1000],
      shaped: [shapeAt + SETTLE_S * 1000, healAt],
      healed: [healAt, endAt],
    };
    const report = figures(people, samples, phases, labelOf);
    // The server's video_paused / video_resumed, as each page logged them.
    report.pauses = Object.fromEntries(people.map((p) => [p.label, pauseFigures(notices[p.label], phases, labelOf, endAt)]));
    report.link = {
      shaped: shaped.a2b,
      shapedUp: shaped.b2a,
      perPhase: {
        warm: linkDelta(l0, l1, (shapeAt - warmAt) / 1000),
        shaped: linkDelta(l1, l2, (healAt - shapeAt) / 1000),
        healed: linkDelta(l2, l3, (endAt - healAt) / 1000),
      },
      total: { a2b: l3.a2b, b2a: l3.b2a },
    };
    // The issue's targets, A being the active speaker.
    const wa = report.receivers.W?.['A/video'] ?? {};
    const waAudio = report.receivers.W?.['A/audio'] ?? {};
    const topHeight = report.sent.A?.warm?.height || report.receivers.B?.['A/video']?.warm?.height || 480;
    report.key = {
      weakFps: wa.shaped?.fps ?? 0,
      weakMaxFreezeS: wa.shaped?.maxFreezeS ?? null,
      weakConcealmentPct: waAudio.shaped?.concealmentPct ?? null,
      topHeight,
      recoveryS: recoverySeconds(samples.W, idA, healAt, topHeight, RECOVERY_FPS),
      unrestricted: [['A', 'B'], ['B', 'A']].map(([rx, tx]) => {
        const f = report.receivers[rx]?.[`${tx}/video`] ?? {};
        // Unshaped: the better of before shaping (short, just after joining)
        // and after healing (steady).
        const healedRef = (f.healed?.fps ?? 0) > (f.warm?.fps ?? 0);
        const ref = healedRef ? f.healed : f.warm;
        // What the publisher's camera encoded (top layer) in the same
        // phases: on a starved machine its encoder, not the server, can be
        // what lowers the frame rate every receiver gets.
        const sent = report.sent[tx] ?? {};
        return { pair: `${rx}←${tx}`, unshapedFps: ref?.fps ?? 0, unshapedHeight: ref?.height ?? 0, warmFps: f.warm?.fps ?? 0, healedFps: f.healed?.fps ?? 0, shapedFps: f.shaped?.fps ?? 0, shapedHeight: f.shaped?.height ?? 0,
          unshapedReceivedFps: ref?.receivedFps ?? 0, shapedReceivedFps: f.shaped?.receivedFps ?? 0,
          sentUnshapedFps: (healedRef ? sent.healed?.fps : sent.warm?.fps) ?? null, sentShapedFps: sent.shaped?.fps ?? null };
      }),
    };
    report.config = { WARM_S, SHAPED_S, SETTLE_S, HEALED_S, SPEAKER_ONLY, MIN_FPS, RECOVERY_FPS, MAX_FREEZE_S, MAX_CONCEALMENT, TOLERANCE, RECOVERY_S };
    report.loadavg = loadavg().map((x) => Math.round(x * 100) / 100);
    report.runSeconds = Math.round((Date.now() - started) / 1000);
    printReport(report);
    if (wa.shaped?.worstEndT && (wa.shaped.maxFreezeS ?? 0) > MAX_FREEZE_S) {
      console.log(`-- W ← A's longest freeze while shaped (${wa.shaped.maxFreezeS}s), per second since warm-up --`);
      for (const line of stallDetail(samples.W, idA, wa.shaped.worstEndT, warmAt)) console.log(line);
    }
    if (env.HUIYI_WEAKLINK_REPORT) {
      writeFileSync(env.HUIYI_WEAKLINK_REPORT, JSON.stringify({ ...report, ids, samples: env.HUIYI_WEAKLINK_RAW === '1' ? samples : undefined }, null, 1));
    }

    if (ASSERT) {
      // Every target is checked; one failure lists all that were missed.
      const k = report.key;
      const missed = [];
      const check = (ok, what) => { if (!ok) missed.push(what); };
      check(k.weakFps >= MIN_FPS, `W receives A's video at ${k.weakFps} fps while shaped (≥ ${MIN_FPS})`);
      check(k.weakMaxFreezeS !== null && k.weakMaxFreezeS <= MAX_FREEZE_S, `W's longest freeze of A's video ${k.weakMaxFreezeS}s (≤ ${MAX_FREEZE_S})`);
      check(k.weakConcealmentPct !== null && k.weakConcealmentPct < MAX_CONCEALMENT, `W's concealment of A's audio ${k.weakConcealmentPct}% (< ${MAX_CONCEALMENT})`);
      for (const u of k.unrestricted) {
        check(u.shapedFps >= u.unshapedFps * (1 - TOLERANCE / 100), `${u.pair}: ${u.shapedFps} fps shaped vs ${u.unshapedFps} unshaped (within ${TOLERANCE}%)`);
        check(u.shapedHeight >= u.unshapedHeight, `${u.pair}: ${u.shapedHeight}p shaped vs ${u.unshapedHeight}p unshaped (top layer kept)`);
      }
      check(k.recoveryS !== null && k.recoveryS <= RECOVERY_S, `W back to ${k.topHeight}p ${k.recoveryS ?? 'never'}s after healing (≤ ${RECOVERY_S})`);
      assert.deepEqual(missed, [], `targets missed:\n  ${missed.join('\n  ')}`);
    }
  } finally {
    await Promise.all(people.map((p) => p.browser.close().catch(() => {})));
    await srv?.stop();
    cleanupScratch();
  }
});
