// Issue 13's reach scenarios: a venue behind a firewall (nftables in its
// own network namespace, made by tests/netlink/setup.sh) joins a meeting
// with two unrestricted venues; all three must see and hear each other.
// 1. Every UDP packet dropped: its media goes over ICE-TCP (RFC 6544) to
//    the worker's TCP port.
// 2. Only TCP to ports 443 (and 8470, the page) let out: its media goes
//    through coturn (TURN over TLS on 443, a self-signed certificate this
//    test makes), started here in the server's namespace.
// 3. The same firewall without a relay: no media path works, and the
//    pre-join screen says so, naming the ports to open.
// In 1 and 2 the venue's pre-join check finds the path the meeting takes.
//
// Run by tests/tests/reach.rs inside `tests/netlink/setup.sh run`, with
// HUIYI_BIN (the server) set; the link emulator between the namespaces is
// left unshaped.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from './lib.mjs';
import { cleanupScratch, linkem, participantIn, sleep, startServer } from './weaklink-lib.mjs';

const { env } = process;
const { HY_SRV_NS, HY_WEAK_NS, HY_LINKEM_CTL } = env;
const SRV_ADDR = env.HY_SRV_ADDR || '127.1.0.1';

function log(msg) { console.log(`udpblocked ${new Date().toISOString().slice(11, 19)} ${msg}`); }

/// Drops every UDP packet in and out of namespace `ns` (DNS included: the
/// page is reached by address).
function blockUdp(ns) {
  firewall(ns, `table inet huiyi_block {
  chain in { type filter hook input priority 0; meta l4proto udp drop; }
  chain out { type filter hook output priority 0; meta l4proto udp drop; }
}
`);
}

/// Lets only TCP to ports 443 and 8470 (the page) out of namespace `ns`.
function only443(ns) {
  firewall(ns, `table inet huiyi_block {
  chain in { type filter hook input priority 0; meta l4proto udp drop; }
  chain out { type filter hook output priority 0; meta l4proto udp drop; tcp dport != { 443, 8470 } drop; }
}
`);
}

function firewall(ns, rules) {
  const nft = (args, input) => execFileSync('nsenter', [`--net=/run/netns/${ns}`, '--', 'nft', ...args], { input, stdio: ['pipe', 'pipe', 'pipe'] });
  try { nft(['delete', 'table', 'inet', 'huiyi_block']); } catch { /* none yet */ }
  nft(['-f', '-'], rules);
}

/// Per remote participant: video frames decoded so far.
async function frames(page) {
  return page.evaluate(() => Object.fromEntries([...document.querySelectorAll('.tile:not(.screen)')]
    .filter((t) => t.dataset.participant !== window.huiyi.me?.id)
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
    return local ? { protocol: local.protocol, type: local.candidateType, relayProtocol: local.relayProtocol ?? null } : null;
  });
}

/// Starts coturn in namespace `ns` on `addr`: TURN over TLS on 443 with a
/// self-signed certificate made here, relaying to `addr` only; resolves to
/// {stop()} once it listens.
async function startCoturn(ns, addr, secret) {
  const dir = mkdtempSync(join(tmpdir(), 'huiyi-coturn-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${addr}`,
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const args = ['--net=/run/netns/' + ns, '--', 'turnserver', '-n', '--no-cli', '--fingerprint',
    '--listening-ip', addr, '--relay-ip', addr, '--listening-port', '3478', '--tls-listening-port', '443',
    '--cert', join(dir, 'cert.pem'), '--pkey', join(dir, 'key.pem'), '--use-auth-secret',
    '--static-auth-secret', secret, '--realm', 'huiyi', '--allow-loopback-peers',
    '--denied-peer-ip', '0.0.0.0-255.255.255.255', '--allowed-peer-ip', addr, '--no-dtls',
    '--log-file', join(dir, 'turn.log'), '--pidfile', join(dir, 'turn.pid')];
  const child = spawn('nsenter', args, { stdio: 'ignore' });
  const deadline = Date.now() + 15000;
  for (;;) {
    const up = spawnSync('nsenter', ['--net=/run/netns/' + ns, '--', 'bash', '-c', `exec 3<>/dev/tcp/${addr}/443`]).status === 0;
    if (up) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`coturn did not start (log: ${join(dir, 'turn.log')})`);
    await sleep(200);
  }
  return { log: join(dir, 'turn.log'), stop: async () => { child.kill('SIGTERM'); await sleep(200); rmSync(dir, { recursive: true, force: true }); } };
}

/// The pre-join media check's verdict on `page` once it has one:
/// {state: 'ok'|'failed'|'unknown', text}.
async function prejoinCheck(page) {
  await until(page, () => ['ok', 'failed', 'unknown'].includes(document.getElementById('media-check')?.dataset.state),
    undefined, 30000).catch(() => assert.fail('the pre-join media check comes to a verdict'));
  return page.evaluate(() => {
    const el = document.getElementById('media-check');
    return { state: el.dataset.state, text: el.textContent, shown: !el.hidden, result: window.huiyiCheck };
  });
}

/// A, B in the server's namespace and T behind `guard` join one meeting;
/// every one must see and hear both others. Returns the paths taken.
async function meetingOfThree({ guard, serverArgs = [], browserArgs = [], shot }) {
  const people = [];
  let srv = null;
  try {
    await linkem(HY_LINKEM_CTL, 'heal');
    guard(HY_WEAK_NS);
    process.env.HUIYI_WEAKLINK_SERVER_ARGS = serverArgs.join(' ');
    srv = await startServer(env.HUIYI_BIN, HY_SRV_NS, SRV_ADDR, env.HUIYI_REACH_SERVER_LOG);
    log(`server in ${HY_SRV_NS} at ${srv.base}; ${guard.name} in ${HY_WEAK_NS}`);
    const url = `${srv.base}/?demo=reach-${Date.now() % 100000}`;
    const launched = await Promise.allSettled([['A', HY_SRV_NS], ['B', HY_SRV_NS], ['T', HY_WEAK_NS]]
      .map(([label, ns]) => participantIn(ns, url, label, label === 'T' ? browserArgs : [])));
    for (const r of launched) if (r.status === 'fulfilled') people.push(r.value);
    for (const r of launched) if (r.status === 'rejected') throw r.reason;
    const check = await prejoinCheck(people[2].page);
    log(`T's pre-join check: ${JSON.stringify(check)}`);
    for (const p of people) {
      await p.page.waitForSelector('#join:not([disabled])', { timeout: 30000 });
      await p.page.click('#join');
    }
    for (const p of people) {
      await until(p.page, () => [...document.querySelectorAll('.tile:not(.screen)')]
        .filter((t) => t.dataset.participant !== window.huiyi.me?.id)
        .filter((t) => t.querySelector('video').videoWidth > 0).length === 2, undefined, 60000)
        .catch(() => assert.fail(`${p.label} sees both others' video`));
    }
    log('everyone sees everyone');
    const ids = {};
    for (const p of people) ids[await p.page.evaluate(() => window.huiyi.me.id)] = p.label;
    // Every video plays: its frames advance by 10 within 20 s of each other
    // (a layer switch waits for a keyframe, which over TURN/TLS or TCP may
    // take a retransmission or two).
    for (const p of people) {
      const f0 = await frames(p.page);
      for (const who of Object.keys(f0)) {
        await until(p.page, ([who, n]) => {
          const tile = [...document.querySelectorAll('.tile:not(.screen)')].find((x) => x.dataset.participant === who);
          return (tile?.querySelector('video').getVideoPlaybackQuality().totalVideoFrames ?? 0) >= n + 10;
        }, [who, f0[who]], 20000).catch(() => assert.fail(`${p.label}: video from ${ids[who] ?? who} plays`));
      }
      log(`${p.label} receives both videos`);
    }
    const b0 = await Promise.all(people.map((p) => audioBytes(p.page)));
    await sleep(3000);
    const b1 = await Promise.all(people.map((p) => audioBytes(p.page)));
    for (const [i, p] of people.entries()) {
      const grew = Object.keys(b1[i]).filter((mid) => b1[i][mid] > (b0[i][mid] ?? 0));
      assert.ok(grew.length >= 2, `${p.label} receives both others' audio: ${JSON.stringify(b1[i])}`);
    }
    const [a, , t] = people;
    if (env.HUIYI_REACH_SHOTS && shot) await t.page.screenshot({ path: `${env.HUIYI_REACH_SHOTS}/${shot}` });
    // The venue's own tile says which way its media goes (the client's diagnostics).
    await until(t.page, () => !!document.querySelector('.tile .quality[data-path]:not([data-path=""])'), undefined, 10000).catch(() => {});
    const shown = await t.page.evaluate(() => {
      const q = document.querySelector('.tile .quality[data-path]:not([data-path=""])');
      return q ? { path: q.dataset.path, title: q.title } : null;
    });
    log(`T's own tile: ${JSON.stringify(shown)}`);
    const metrics = execFileSync('nsenter', [`--net=/run/netns/${HY_SRV_NS}`, '--', 'curl', '-sf', `${srv.base}/metrics`]).toString();
    const peers = Object.fromEntries([...metrics.matchAll(/^huiyi_media_peers\{transport="(\w+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
    log(`server's peers by transport: ${JSON.stringify(peers)}`);
    return { open: await selectedPath(a.page), guarded: await selectedPath(t.page), shown, peers, check };
  } finally {
    await Promise.all(people.map((p) => p.browser.close().catch(() => {})));
    await srv?.stop();
    cleanupScratch();
  }
}

const skip = !HY_WEAK_NS && 'needs tests/netlink/setup.sh (HY_WEAK_NS unset)';

test('a venue whose firewall drops UDP joins over ICE-TCP; all three see and hear each other', { timeout: 180000, skip }, async () => {
  const { open, guarded, shown, peers, check } = await meetingOfThree({ guard: blockUdp, shot: 'udpblocked-T.png' });
  assert.equal(check.state, 'ok', `the pre-join check finds a path: ${JSON.stringify(check)}`);
  assert.equal(check.result?.path, 'tcp', `over TCP: ${JSON.stringify(check)}`);
  assert.deepEqual(peers, { udp: 2, tcp: 1 }, 'the server counts one peer over TCP, two over UDP');
  assert.equal(shown?.path, 'tcp', `the venue is told its media goes over TCP: ${JSON.stringify(shown)}`);
  assert.equal(guarded?.protocol, 'tcp', `the blocked venue's media goes over TCP: ${JSON.stringify(guarded)}`);
  assert.notEqual(guarded?.type, 'relay', `directly to the worker: ${JSON.stringify(guarded)}`);
  assert.equal(open?.protocol, 'udp', `the others stay on UDP: ${JSON.stringify(open)}`);
});

test('a venue that reaches only TCP 443 joins through coturn (TURN over TLS); all three see and hear each other', { timeout: 180000, skip }, async () => {
  const secret = `reach-test-secret-${process.pid}`;
  const coturn = await startCoturn(HY_SRV_NS, SRV_ADDR, secret);
  try {
    const { open, guarded, shown, check } = await meetingOfThree({
      guard: only443,
      serverArgs: ['--set', `turn.urls=["turns:${SRV_ADDR}:443?transport=tcp"]`, '--set', `turn.secret="${secret}"`],
      // The test's self-signed certificate (a real deployment has a proper one).
      browserArgs: ['--ignore-certificate-errors'],
      shot: 'turn-T.png',
    });
    assert.equal(guarded?.type, 'relay', `the venue's media goes through the relay: ${JSON.stringify(guarded)}`);
    assert.equal(guarded?.relayProtocol, 'tls', `reached over TLS: ${JSON.stringify(guarded)}`);
    assert.equal(shown?.path, 'turn', `the venue is told its media goes through the relay: ${JSON.stringify(shown)}`);
    assert.equal(check.state, 'ok', `the pre-join check finds a path: ${JSON.stringify(check)}`);
    assert.equal(check.result?.path, 'turn', `through the relay: ${JSON.stringify(check)}`);
    assert.equal(open?.protocol, 'udp', `the others stay on UDP: ${JSON.stringify(open)}`);
  } finally {
    await coturn.stop();
  }
});

test('a venue that no media path reaches is told so before it joins, with the ports to open', { timeout: 120000, skip }, async () => {
  let srv = null;
  let venue = null;
  try {
    await linkem(HY_LINKEM_CTL, 'heal');
    only443(HY_WEAK_NS);
    process.env.HUIYI_WEAKLINK_SERVER_ARGS = '';
    srv = await startServer(env.HUIYI_BIN, HY_SRV_NS, SRV_ADDR, env.HUIYI_REACH_SERVER_LOG);
    venue = await participantIn(HY_WEAK_NS, `${srv.base}/?demo=blocked-${Date.now() % 100000}`, 'T');
    const check = await prejoinCheck(venue.page);
    log(`T's pre-join check: ${JSON.stringify(check)}`);
    if (env.HUIYI_REACH_SHOTS) await venue.page.screenshot({ path: `${env.HUIYI_REACH_SHOTS}/blocked-prejoin.png` });
    assert.equal(check.state, 'failed', `no path: ${JSON.stringify(check)}`);
    assert.ok(check.shown, 'the warning is on the screen');
    const { udp_ports: udp, tcp_ports: tcp } = check.result.paths;
    assert.ok(udp.length >= 1 && tcp.length >= 1, `the server names its ports: ${JSON.stringify(check.result.paths)}`);
    assert.match(check.text, /^媒体连接失败，请联系管理员开放 UDP \d+/, check.text);
    assert.ok(check.text.includes(`UDP ${Math.min(...udp)}`) && check.text.includes(`TCP ${Math.min(...tcp)}`), check.text);
    // Joining stays possible (the network may be fixed meanwhile).
    assert.equal(await venue.page.evaluate(() => document.getElementById('join').disabled), false);
    // The server counted the check.
    const metrics = execFileSync('nsenter', [`--net=/run/netns/${HY_SRV_NS}`, '--', 'curl', '-sf', `${srv.base}/metrics`]).toString();
    assert.match(metrics, /^huiyi_media_checks_total 1$/m);
  } finally {
    await venue?.browser.close().catch(() => {});
    await srv?.stop();
    cleanupScratch();
  }
});
