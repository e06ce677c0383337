// Issue 13's first reach scenario: a venue whose firewall drops every UDP
// packet (nftables in its own network namespace, made by
// tests/netlink/setup.sh) joins a meeting with two unrestricted venues.
// Its media can only go over ICE-TCP (RFC 6544) to the worker's TCP port;
// all three must see and hear each other, and the blocked venue's
// connection must be the TCP one.
//
// Run by tests/tests/reach.rs inside `tests/netlink/setup.sh run`, with
// HUIYI_BIN (the server) set; the link emulator between the namespaces is
// left unshaped.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { until } from './lib.mjs';
import { cleanupScratch, linkem, participantIn, sleep, startServer } from './weaklink-lib.mjs';

const { env } = process;
const { HY_SRV_NS, HY_WEAK_NS, HY_LINKEM_CTL } = env;
const SRV_ADDR = env.HY_SRV_ADDR || '127.1.0.1';

function log(msg) { console.log(`udpblocked ${new Date().toISOString().slice(11, 19)} ${msg}`); }

/// Drops every UDP packet in and out of namespace `ns` (DNS included: the
/// page is reached by address).
function blockUdp(ns) {
  const rules = `table inet huiyi_block {
  chain in { type filter hook input priority 0; meta l4proto udp drop; }
  chain out { type filter hook output priority 0; meta l4proto udp drop; }
}
`;
  execFileSync('nsenter', [`--net=/run/netns/${ns}`, '--', 'nft', '-f', '-'], { input: rules });
}

/// Per remote participant: video frames decoded so far.
async function frames(page) {
  return page.evaluate(() => Object.fromEntries([...document.querySelectorAll('.tile:not(.screen)')]
    .filter((t) => t.dataset.participant !== window.huiyi.me.id)
    .map((t) => [t.dataset.participant, t.querySelector('video').getVideoPlaybackQuality().totalVideoFrames])));
}

/// Audio bytes received per m-line (one per publishing participant).
async function audioBytes(page) {
  return page.evaluate(async () => {
    const out = {};
    const stats = await window.huiyi.session.pc.getStats();
    stats.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'audio') out[s.mid] = (out[s.mid] || 0) + (s.bytesReceived || 0); });
    return out;
  });
}

/// The transport of the connection's selected candidate pair: 'udp' / 'tcp'.
async function selectedPath(page) {
  return page.evaluate(async () => {
    const stats = await window.huiyi.session.pc.getStats();
    let pair = null;
    stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId); });
    if (!pair) stats.forEach((s) => { if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });
    const local = pair && stats.get(pair.localCandidateId);
    return local ? { protocol: local.protocol, port: pair && stats.get(pair.remoteCandidateId)?.port } : null;
  });
}

test('a venue whose firewall drops UDP joins over ICE-TCP; all three see and hear each other', { timeout: 180000, skip: !HY_WEAK_NS && 'needs tests/netlink/setup.sh (HY_WEAK_NS unset)' }, async () => {
  const people = [];
  let srv = null;
  try {
    await linkem(HY_LINKEM_CTL, 'heal');
    blockUdp(HY_WEAK_NS);
    srv = await startServer(env.HUIYI_BIN, HY_SRV_NS, SRV_ADDR, env.HUIYI_REACH_SERVER_LOG);
    log(`server in ${HY_SRV_NS} at ${srv.base}; UDP dropped in ${HY_WEAK_NS}`);
    const url = `${srv.base}/?demo=reach-${Date.now() % 100000}`;
    const launched = await Promise.allSettled([['A', HY_SRV_NS], ['B', HY_SRV_NS], ['T', HY_WEAK_NS]]
      .map(([label, ns]) => participantIn(ns, url, label)));
    for (const r of launched) if (r.status === 'fulfilled') people.push(r.value);
    for (const r of launched) if (r.status === 'rejected') throw r.reason;
    for (const p of people) {
      await p.page.waitForSelector('#join:not([disabled])', { timeout: 30000 });
      await p.page.click('#join');
    }
    for (const p of people) {
      await until(p.page, () => [...document.querySelectorAll('.tile:not(.screen)')]
        .filter((t) => t.dataset.participant !== window.huiyi.me.id)
        .filter((t) => t.querySelector('video').videoWidth > 0).length === 2, undefined, 60000)
        .catch(() => assert.fail(`${p.label} sees both others' video`));
    }
    log('everyone sees everyone');
    const [a, , t] = people;
    const path = await selectedPath(t.page);
    assert.equal(path?.protocol, 'tcp', `the blocked venue's media goes over TCP: ${JSON.stringify(path)}`);
    const open = await selectedPath(a.page);
    assert.equal(open?.protocol, 'udp', `the others stay on UDP: ${JSON.stringify(open)}`);
    const ids = {};
    for (const p of people) ids[await p.page.evaluate(() => window.huiyi.me.id)] = p.label;
    const named = (f) => Object.fromEntries(Object.entries(f).map(([k, v]) => [ids[k] ?? k, v]));
    await sleep(3000); // layers settle after the joins
    const f0 = await Promise.all(people.map((p) => frames(p.page)));
    const b0 = await Promise.all(people.map((p) => audioBytes(p.page)));
    await sleep(5000);
    const f1 = await Promise.all(people.map((p) => frames(p.page)));
    const b1 = await Promise.all(people.map((p) => audioBytes(p.page)));
    log(`frames in 5 s: ${people.map((p, i) => `${p.label}← ${JSON.stringify(named(Object.fromEntries(Object.entries(f1[i]).map(([k, n]) => [k, n - (f0[i][k] ?? 0)]))))}`).join('  ')}`);
    for (const [i, p] of people.entries()) {
      for (const [who, n] of Object.entries(f1[i])) {
        assert.ok(n - (f0[i][who] ?? 0) >= 10, `${p.label}: video from ${ids[who] ?? who} plays (${f0[i][who]} → ${n} frames in 5 s)`);
      }
      const grew = Object.keys(b1[i]).filter((mid) => b1[i][mid] > (b0[i][mid] ?? 0));
      assert.ok(grew.length >= 2, `${p.label} receives both others' audio: ${JSON.stringify(b1[i])}`);
    }
    if (env.HUIYI_REACH_SHOTS) await t.page.screenshot({ path: `${env.HUIYI_REACH_SHOTS}/udpblocked-T.png` });
  } finally {
    await Promise.all(people.map((p) => p.browser.close().catch(() => {})));
    await srv?.stop();
    cleanupScratch();
  }
});
