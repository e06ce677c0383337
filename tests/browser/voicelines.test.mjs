// Audio top-N's voice lines in real Chromium (ADR 0015): a server whose
// top-N applies from two participants on, so the third to join gets one
// audio line per slot it can hear (min(N, microphones) = 2 here), not one
// per microphone, and hears everyone through them. Links from HUIYI_LINKS,
// written by the Rust harness (tests/tests/browser.rs).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { participant, until } from './lib.mjs';

const links = JSON.parse(process.env.HUIYI_LINKS || '[]');
const shots = process.env.HUIYI_SCREENSHOTS;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/// Inbound audio of a page: bytes per announced publisher (`byOwner`) and
/// per voice line (an offered track no `track` message announced).
async function audioIn(page) {
  return page.evaluate(async () => {
    const h = window.huiyi;
    const byOwner = {};
    const lines = {};
    (await h.session.pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp' || s.kind !== 'audio') return;
      const trackId = h.session.trackIdOfMid(s.mid);
      const info = h.tracks.get(trackId);
      if (info) byOwner[info.participant] = (byOwner[info.participant] || 0) + (s.bytesReceived || 0);
      else lines[s.mid] = s.bytesReceived || 0;
    });
    return { byOwner, lines };
  });
}

test('a latecomer hears the meeting on voice lines', { timeout: 180000 }, async (t) => {
  assert.equal(links.length, 3, 'three join links');
  const all = [];
  try {
    for (const url of links) {
      const p = await participant(url);
      all.push(p);
      await p.page.waitForSelector('#join:not([disabled])', { timeout: 20000 });
      await p.page.click('#join');
      await until(p.page, () => window.huiyi.me?.id);
    }
    const [a, b, c] = all;
    const id = async (p) => p.page.evaluate(() => window.huiyi.me.id);
    const [ida, idb, idc] = [await id(a), await id(b), await id(c)];

    await t.test('the third gets two voice lines, which carry the others\' voices', async () => {
      // Both others' cameras play (the voice lines add no tiles).
      await until(c.page, () => [...document.querySelectorAll('.tile:not(.screen)')]
        .filter((t) => t.dataset.participant !== window.huiyi.me.id)
        .filter((t) => t.querySelector('video').videoWidth > 0).length === 2);
      // Over 2 s windows (up to five: three browsers share two cores), the
      // voice lines receive audio, every line some, and nothing comes on
      // a line of A's or B's own microphone.
      let problems;
      let lines;
      for (let round = 0; round < 5; round++) {
        const x0 = await audioIn(c.page);
        await sleep(2000);
        const x1 = await audioIn(c.page);
        lines = Object.keys(x1.lines);
        problems = [];
        if (lines.length !== 2) problems.push(`voice lines: ${lines.length} (${JSON.stringify(x1)})`);
        for (const m of lines) {
          if (!(x1.lines[m] > (x0.lines[m] || 0))) problems.push(`nothing on voice line ${m}`);
        }
        for (const o of [ida, idb]) {
          if ((x1.byOwner[o] || 0) > (x0.byOwner[o] || 0)) problems.push(`audio of ${o} on its own line`);
        }
        if (problems.length === 0) break;
        console.error(`round ${round}: ${problems.join('; ')}`);
      }
      assert.deepEqual(problems, [], 'the latecomer hears the meeting on its two voice lines only');
      const tiles = await c.page.evaluate(() => document.querySelectorAll('.tile:not(.screen)').length);
      assert.equal(tiles, 3, 'a tile per participant, none for a voice line');
      if (shots) await c.page.screenshot({ path: `${shots}/voicelines.png` });
    });

    await t.test('the others hear the third', async () => {
      for (const p of [a, b]) {
        const x0 = await audioIn(p.page);
        await sleep(2000);
        const x1 = await audioIn(p.page);
        const grew = (kind, key) => (x1[kind][key] || 0) > (x0[kind][key] || 0);
        const heard = grew('byOwner', idc) || Object.keys(x1.lines).some((m) => grew('lines', m));
        assert.ok(heard, `${p === a ? 'A' : 'B'} hears the third, on its line or a voice line`);
      }
    });
  } finally {
    await Promise.all(all.map((p) => p.browser.close().catch(() => {})));
  }
});
