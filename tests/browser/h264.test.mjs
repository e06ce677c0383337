// A participant that can send and decode only H.264 (Chromium with its
// codecs cut to H.264 stands in for an old iPhone's Safari or a hardware
// room kit) meets two VP8-default Chromium participants. The server does
// not transcode: when the H.264-only one offers video without VP8, the
// meeting's video codec becomes H.264 (`meeting_state.video_codec`), every
// client republishes in it, and everyone sees everyone. The chair then
// records 8 s, which the Rust side composes, and goes live for 10 s, whose
// HLS segments the Rust side checks. Links come from
// HUIYI_LINKS (tests/tests/browser.rs).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { participant, until } from './lib.mjs';

const links = JSON.parse(process.env.HUIYI_LINKS || '[]');

/// Run in the page before its own scripts: the browser knows no video codec
/// but H.264 (capabilities and every offer and answer).
function h264Only() {
  const only = (caps) => caps && { ...caps, codecs: caps.codecs.filter((c) => !/video\/(VP8|VP9|AV1)$/i.test(c.mimeType)) };
  const sendCaps = RTCRtpSender.getCapabilities.bind(RTCRtpSender);
  const recvCaps = RTCRtpReceiver.getCapabilities.bind(RTCRtpReceiver);
  RTCRtpSender.getCapabilities = (kind) => (kind === 'video' ? only(sendCaps(kind)) : sendCaps(kind));
  RTCRtpReceiver.getCapabilities = (kind) => (kind === 'video' ? only(recvCaps(kind)) : recvCaps(kind));
  const restrict = (pc) => {
    for (const tr of pc.getTransceivers()) {
      if (tr.stopped || tr.receiver.track?.kind !== 'video') continue;
      const codecs = only(recvCaps('video')).codecs;
      try { tr.setCodecPreferences(codecs); } catch { /* a stopped m-line */ }
    }
  };
  for (const name of ['createOffer', 'createAnswer']) {
    const original = RTCPeerConnection.prototype[name];
    RTCPeerConnection.prototype[name] = function (...args) { restrict(this); return original.apply(this, args); };
  }
}

/// Per remote participant: frames shown so far by its camera tile.
async function frames(page) {
  return page.evaluate(() => Object.fromEntries([...document.querySelectorAll('.tile:not(.screen)')]
    .filter((t) => t.dataset.participant !== window.huiyi.me?.id)
    .map((t) => [t.dataset.participant, t.querySelector('video').getVideoPlaybackQuality().totalVideoFrames])));
}

/// The video codecs this page receives and sends now.
async function codecs(page) {
  return page.evaluate(async () => {
    const stats = await window.huiyi.session.pc.getStats();
    const of = (type) => [...new Set([...stats.values()].filter((s) => s.type === type && s.kind === 'video' && s.codecId)
      .map((s) => stats.get(s.codecId)?.mimeType))];
    return { in: of('inbound-rtp'), out: of('outbound-rtp') };
  });
}

test('an H.264-only participant and two VP8-default participants see each other', { timeout: 150000 }, async () => {
  assert.equal(links.length, 3, 'three join links');
  const people = [];
  try {
    for (const [i, url] of links.entries()) {
      const p = await participant(url, i === 2 ? { init: h264Only } : {});
      await p.page.waitForSelector('#join:not([disabled])', { timeout: 20000 });
      await p.page.click('#join');
      people.push(p);
      if (i === 1) {
        // The two VP8 participants see each other in VP8 first.
        await until(p.page, () => [...document.querySelectorAll('.tile:not(.screen) video')].some((v) => v.videoWidth > 0), undefined, 30000);
      }
    }
    const [a, , kit] = people;
    const before = await codecs(a.page);
    for (const p of people) {
      await until(p.page, () => [...document.querySelectorAll('.tile:not(.screen)')]
        .filter((t) => t.dataset.participant !== window.huiyi.me?.id)
        .filter((t) => t.querySelector('video').videoWidth > 0).length === 2, undefined, 60000)
        .catch(async () => {
          for (const q of people) {
            const d = await q.page.evaluate(async () => ({
              codec: window.huiyi.meetingState?.video_codec, ms: JSON.stringify(window.huiyi.meetingState).slice(0, 200),
              widths: [...document.querySelectorAll('.tile:not(.screen) video')].map((v) => v.videoWidth),
              local: (window.huiyi.session.pc.localDescription?.sdp || '').split('\r\n').filter((l) => /^m=video|rtpmap:\d+ (VP8|H264)/.test(l)).join(' | '),
              events: window.huiyi.events.filter((e) => e.type === 'error').map((e) => JSON.stringify(e.detail)).slice(-3),
            }));
            console.log(JSON.stringify({ ...d, codecs: await codecs(q.page) }));
          }
          assert.fail('everyone sees both others\' video');
        });
    }
    await until(a.page, () => window.huiyi.meetingState?.video_codec === 'h264', undefined, 10000)
      .catch(() => assert.fail('the meeting\'s codec is H.264'));
    // Every video plays: its frames advance by 10 within 20 s (the
    // republishing in H.264 takes each VP8 participant a new connection).
    for (const [i, p] of people.entries()) {
      const f0 = await frames(p.page);
      for (const who of Object.keys(f0)) {
        await until(p.page, ([who, n]) => {
          const tile = [...document.querySelectorAll('.tile:not(.screen)')].find((t) => t.dataset.participant === who);
          return (tile?.querySelector('video').getVideoPlaybackQuality().totalVideoFrames ?? 0) >= n + 10;
        }, [who, f0[who]], 20000).catch(async () => {
          console.log(JSON.stringify(await Promise.all(people.map((q) => codecs(q.page)))));
          assert.fail(`participant ${i}: video from ${who} plays`);
        });
      }
    }
    const after = await Promise.all(people.map((p) => codecs(p.page)));
    console.log(`codecs: A before the kit ${JSON.stringify(before)}; after: ${JSON.stringify(after)}`);
    for (const [i, c] of after.entries()) {
      assert.deepEqual(c.in, ['video/H264'], `participant ${i} receives H.264 only: ${JSON.stringify(c)}`);
      assert.deepEqual(c.out, ['video/H264'], `participant ${i} sends H.264: ${JSON.stringify(c)}`);
    }
    if (process.env.HUIYI_SCREENSHOTS) await kit.page.screenshot({ path: `${process.env.HUIYI_SCREENSHOTS}/h264-kit.png` });
    // The chair records a few seconds of the H.264 meeting (the Rust side
    // composes it: issue 16).
    const badge = (page, shown) => until(page, (s) => document.getElementById('rec-badge')?.hidden === !s, shown, 20000);
    await a.page.click('#btn-console');
    await a.page.click('#btn-record');
    await badge(kit.page, true);
    await new Promise((r) => setTimeout(r, 8000));
    await a.page.click('#btn-record');
    await badge(kit.page, false);
    // And goes live for a few seconds: the feed carries H.264 pictures.
    const live = (page, shown) => until(page, (s) => document.getElementById('live-badge')?.hidden === !s, shown, 20000);
    await a.page.click('#btn-live');
    await live(kit.page, true);
    await new Promise((r) => setTimeout(r, 10000));
    await a.page.click('#btn-live');
    await live(kit.page, false);
  } finally {
    await Promise.all(people.map((p) => p.browser.close().catch(() => {})));
  }
});
