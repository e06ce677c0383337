// Firefox in the browser matrix (issue 13): Debian's firefox-esr (WebDriver
// BiDi, firefox.mjs) and Chromium (lib.mjs) in one meeting through a running
// Huiyi server on 127.0.0.1. Firefox holds the chair's link, Chromium a
// participant's. Links come from HUIYI_LINKS (a JSON array of two join URLs
// with tokens: the chair's, then the participant's), written by the Rust
// harness (tests/tests/firefox.rs); screenshots go to HUIYI_SCREENSHOTS.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { participant, until } from './lib.mjs';
import { firefoxParticipant } from './firefox.mjs';

const links = JSON.parse(process.env.HUIYI_LINKS || '[]');
const shots = process.env.HUIYI_SCREENSHOTS;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/// Per remote participant: frames its camera tile presents within `ms`
/// (requestVideoFrameCallback: Firefox's getVideoPlaybackQuality() counts
/// no frames of a MediaStream, it stays 0).
async function framesShown(page, ms) {
  return page.evaluate(async (ms) => {
    const videos = [...document.querySelectorAll('.tile:not(.screen)')]
      .filter((t) => t.dataset.participant !== window.huiyi.me.id)
      .map((t) => [t.dataset.participant, t.querySelector('video')]);
    const counts = Object.fromEntries(videos.map(([p]) => [p, 0]));
    let counting = true;
    for (const [p, v] of videos) {
      const frame = () => { if (counting) { counts[p]++; v.requestVideoFrameCallback(frame); } };
      v.requestVideoFrameCallback(frame);
    }
    await new Promise((r) => setTimeout(r, ms));
    counting = false;
    return counts;
  }, ms);
}

/// Per (publisher participant, kind): bytes received and, for video, frames
/// decoded, from getStats and the track map.
async function received(page) {
  return page.evaluate(async () => {
    const h = window.huiyi;
    const out = {};
    (await h.session.pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      const info = h.tracks.get(h.session.trackIdOfMid(s.mid));
      if (!info) return;
      const key = `${info.participant}/${s.kind}`;
      const o = (out[key] ??= { bytes: 0, frames: 0 });
      o.bytes += s.bytesReceived || 0;
      o.frames += s.framesDecoded || 0;
    });
    return out;
  });
}

/// Audio bytes received from participant `from` within `ms`.
async function audioGrowth(page, from, ms = 1500) {
  const x0 = await received(page);
  await sleep(ms);
  const x1 = await received(page);
  return (x1[`${from}/audio`]?.bytes || 0) - (x0[`${from}/audio`]?.bytes || 0);
}

test('a Firefox participant and a Chromium participant meet', { timeout: 120000 }, async (t) => {
  assert.equal(links.length, 2, 'two join links');
  const launched = await Promise.allSettled([firefoxParticipant(links[0]), participant(links[1])]);
  const people = launched.filter((r) => r.status === 'fulfilled').map((r) => r.value);
  try {
    for (const r of launched) if (r.status === 'rejected') throw r.reason;
    const [ff, cr] = people;

    await t.test('Firefox\'s pre-join page shows the meeting and plays the camera preview', async () => {
      await ff.page.waitForSelector('#join:not([disabled])', { timeout: 30000 });
      const title = await ff.page.textContent('#prejoin-title');
      assert.equal(title, '火狐浏览器测试会议', 'the meeting\'s title from the link');
      assert.equal(await ff.page.inputValue('#name'), '县政府办');
      await until(ff.page, () => document.getElementById('preview').videoWidth > 0, undefined, 10000)
        .catch(() => assert.fail('the preview has a picture'));
      const n = await ff.page.evaluate(() => new Promise((resolve) => {
        const v = document.getElementById('preview');
        let count = 0;
        const frame = () => { count++; v.requestVideoFrameCallback(frame); };
        v.requestVideoFrameCallback(frame);
        setTimeout(() => resolve(count), 2000);
      }));
      assert.ok(n >= 10, `the preview plays: ${n} frames in 2 s`);
      await until(ff.page, () => parseFloat(document.getElementById('meter-fill').style.width) > 0, undefined, 5000)
        .catch(() => assert.fail('the microphone meter moves'));
      const devices = await ff.page.evaluate(() => [...document.querySelectorAll('#camera-select option, #mic-select option')].length);
      assert.ok(devices >= 2, `a camera and a microphone are listed: ${devices}`);
      if (shots) await ff.page.screenshot({ path: `${shots}/firefox-prejoin.png` });
    });

    await cr.page.waitForSelector('#join:not([disabled])', { timeout: 20000 });
    await ff.page.click('#join');
    await cr.page.click('#join');
    const id = (p) => p.page.evaluate(() => window.huiyi.me.id);
    await until(ff.page, () => !!window.huiyi.me);
    await until(cr.page, () => !!window.huiyi.me);
    const [idf, idc] = [await id(ff), await id(cr)];

    await t.test('each sees the other\'s video playing and hears the other', async () => {
      for (const p of people) {
        await until(p.page, () => [...document.querySelectorAll('.tile:not(.screen)')]
          .some((t) => t.dataset.participant !== window.huiyi.me.id && t.querySelector('video').videoWidth > 0), undefined, 30000);
      }
      await sleep(1000); // the first keyframes
      const r0 = await Promise.all(people.map((p) => received(p.page)));
      const shown = await Promise.all(people.map((p) => framesShown(p.page, 2500)));
      const r1 = await Promise.all(people.map((p) => received(p.page)));
      for (const [i, [who, other]] of [['Firefox', idc], ['Chromium', idf]].entries()) {
        assert.deepEqual(Object.keys(shown[i]), [other], `${who} has one remote tile, the other's`);
        assert.ok(shown[i][other] >= 10, `${who}: the other's video plays (${shown[i][other]} frames shown in 2.5 s)`);
        const v0 = r0[i][`${other}/video`] ?? { frames: 0 };
        const v1 = r1[i][`${other}/video`] ?? { frames: 0 };
        assert.ok(v1.frames - v0.frames >= 10, `${who}: frames decoded (getStats) advance: ${v0.frames} → ${v1.frames}`);
        const a0 = r0[i][`${other}/audio`]?.bytes ?? 0;
        const a1 = r1[i][`${other}/audio`]?.bytes ?? 0;
        assert.ok(a1 - a0 > 2000, `${who} receives the other's audio: ${a0} → ${a1} bytes`);
      }
      // Firefox's autoplay policy (its defaults): the click on 加入 lets the meeting's audio play.
      const audio = await ff.page.evaluate(async () => {
        const el = document.querySelector('#audio-sink audio');
        if (!el) return null;
        const t0 = el.currentTime;
        await new Promise((r) => setTimeout(r, 1000));
        return { paused: el.paused, advanced: el.currentTime - t0 };
      });
      assert.ok(audio && !audio.paused && audio.advanced > 0.5, `Firefox plays the other's audio: ${JSON.stringify(audio)}`);
    });

    await t.test('Firefox sends its camera as simulcast (h and f)', async () => {
      // Firefox's own bandwidth estimate starts low and may hold the top
      // layer back for a few seconds after joining: wait for both to flow.
      // Chromium's window is made large enough to want f (the server stops
      // a layer nobody takes: the next test).
      await cr.page.setViewportSize({ width: 1800, height: 1400 });
      const layers = () => ff.page.evaluate(() => window.huiyi.session.cameraLayers());
      const seen = [await layers()];
      let l1 = seen[0];
      let sent = {};
      for (let i = 0; i < 12; i++) {
        await sleep(1000);
        seen.push((l1 = await layers()));
        const l0 = seen.at(-3) ?? seen[0]; // 2 s before
        sent = Object.fromEntries(l1.map((l) => [l.rid, l.framesSent - (l0.find((x) => x.rid === l.rid)?.framesSent ?? 0)]));
        if (seen.length >= 3 && l1.length === 2 && Object.values(sent).every((n) => n >= 10)) break;
      }
      assert.deepEqual(l1.map((l) => l.rid), ['h', 'f'], `two layers: ${JSON.stringify(l1)}`);
      for (const l of l1) assert.ok(sent[l.rid] >= 10, `${l.rid} flows: ${sent[l.rid]} frames in 2 s (${JSON.stringify(l1)})`);
      assert.ok(l1[1].height > l1[0].height, `f is the larger: ${JSON.stringify(l1)}`);
      const path = await ff.page.evaluate(() => document.querySelector('.tile .quality[data-path]:not([data-path=""])')?.dataset.path);
      assert.equal(path, 'udp', 'Firefox\'s page knows its media path (its getStats names the selected pair)');
    });

    await t.test('Firefox stops encoding its f layer when nobody takes it, and resumes it when asked', async () => {
      // The server asks (`layers`) after 10 s without a taker; Firefox's
      // sender takes encodings[].active from setParameters.
      const fActive = () => ff.page.evaluate(() => window.huiyi.session.pc.getTransceivers()
        .find((x) => x.sender.track?.kind === 'video').sender.getParameters().encodings.find((e) => e.rid === 'f')?.active);
      const fSent = async () => (await ff.page.evaluate(() => window.huiyi.session.cameraLayers())).find((l) => l.rid === 'f')?.framesSent ?? 0;
      await cr.page.setViewportSize({ width: 640, height: 400 }); // Firefox's tile at Chromium: well under 240 px
      await until(ff.page, () => window.huiyi.session.pc.getTransceivers()
        .find((x) => x.sender.track?.kind === 'video').sender.getParameters().encodings.find((e) => e.rid === 'f')?.active === false,
      undefined, 25000).catch(() => assert.fail('the server asked Firefox to stop its f layer'));
      const f0 = await fSent();
      await sleep(1500);
      const f1 = await fSent();
      assert.ok(f1 - f0 <= 2, `Firefox encodes no more f frames (${f0} → ${f1})`);
      await cr.page.setViewportSize({ width: 1800, height: 1400 }); // now taller than 400 px: f wanted
      await until(ff.page, () => window.huiyi.session.pc.getTransceivers()
        .find((x) => x.sender.track?.kind === 'video').sender.getParameters().encodings.find((e) => e.rid === 'f')?.active === true,
      undefined, 15000).catch(() => assert.fail('Firefox is asked for its f layer again'));
      await until(cr.page, (idf) => {
        const t = [...document.querySelectorAll('.tile:not(.screen)')].find((x) => x.dataset.participant === idf);
        return (t?.querySelector('video').videoHeight ?? 0) >= 480;
      }, idf, 15000).catch(() => assert.fail('Chromium receives Firefox\'s full layer'));
      assert.equal(await fActive(), true);
      await cr.page.setViewportSize({ width: 1000, height: 700 });
    });

    await t.test('a screen shared from either browser plays in the other, and goes away', async () => {
      for (const [from, to, who] of [[cr, ff, 'Chromium → Firefox'], [ff, cr, 'Firefox → Chromium']]) {
        await from.page.evaluate(async () => {
          // A canvas stands in for the captured screen; the code path is the share button's.
          const canvas = document.createElement('canvas');
          canvas.width = 640; canvas.height = 360;
          const g = canvas.getContext('2d');
          let n = 0;
          window.__paint = setInterval(() => { g.fillStyle = `hsl(${(n++ * 7) % 360} 70% 50%)`; g.fillRect(0, 0, 640, 360); }, 50);
          await window.huiyi.session.addScreen(canvas.captureStream(20));
        });
        // Full size (a shared screen keeps its resolution: Chromium's contentHint,
        // Firefox's degradationPreference), and playing.
        await until(to.page, () => document.querySelector('.tile.screen video')?.videoWidth === 640, undefined, 20000)
          .catch(async () => assert.fail(`${who}: the screen arrives at 640×360; the tile shows ${await to.page.evaluate(() => document.querySelector('.tile.screen video')?.videoWidth)} px wide`));
        await to.page.evaluate(() => {
          const v = document.querySelector('.tile.screen video');
          window.__screenFrames = 0;
          const frame = () => { window.__screenFrames++; v.requestVideoFrameCallback(frame); };
          v.requestVideoFrameCallback(frame);
        });
        await until(to.page, () => window.__screenFrames >= 5, undefined, 10000)
          .catch(async () => assert.fail(`${who}: the screen plays (${await to.page.evaluate(() => window.__screenFrames)} frames in 10 s)`));
        if (shots && to === ff) await ff.page.screenshot({ path: `${shots}/firefox-screen.png` });
        if (from === ff) {
          const preference = await ff.page.evaluate(() => [...window.huiyi.session.sources].find(([, s]) => s === 'screen')[0].sender.getParameters().degradationPreference);
          assert.equal(preference, 'maintain-resolution', 'Firefox (no contentHint) keeps the screen\'s resolution');
        }
        await from.page.evaluate(() => { clearInterval(window.__paint); return window.huiyi.session.removeScreen(); });
        await until(to.page, () => !document.querySelector('.tile.screen'))
          .catch(() => assert.fail(`${who}: the screen's tile goes away`));
      }
      // Both still see each other's camera after the renegotiations.
      const [a, b] = await Promise.all([framesShown(ff.page, 2000), framesShown(cr.page, 2000)]);
      assert.ok(a[idc] >= 10 && b[idf] >= 10, `cameras still play: Firefox ${a[idc]}, Chromium ${b[idf]} frames in 2 s`);
    });

    await t.test('an ICE restart from Firefox keeps the media, without a loop of offers', async () => {
      const negotiations = () => ff.page.evaluate(() => window.huiyi.events.filter((e) => e.type === 'answer' || e.type === 'offer').length);
      const n0 = await negotiations();
      const ufrag = () => ff.page.evaluate(() => window.huiyi.session.pc.localDescription.sdp.match(/a=ice-ufrag:(.*)/)[1]);
      const u0 = await ufrag();
      await ff.page.evaluate(() => { window.__pc = window.huiyi.session.pc; return window.huiyi.session.restart(); });
      assert.notEqual(await ufrag(), u0, 'Firefox\'s new ICE credentials');
      await until(ff.page, () => ['connected', 'completed'].includes(window.huiyi.session.pc.iceConnectionState));
      await sleep(1000);
      // Sampled up to three times: on a loaded machine (CI) a decoder may
      // still be catching up 1 s after the restart (once: 8 frames in 2 s).
      let a, b;
      for (let i = 0; i < 3; i++) {
        [a, b] = await Promise.all([framesShown(ff.page, 2000), framesShown(cr.page, 2000)]);
        if (a[idc] >= 10 && b[idf] >= 10) break;
      }
      assert.ok(a[idc] >= 10 && b[idf] >= 10, `media flows both ways after the restart: Firefox ${a[idc]}, Chromium ${b[idf]} frames in 2 s`);
      const n1 = await negotiations();
      assert.ok(n1 - n0 <= 3, `no loop of offers and answers: ${n1 - n0} after the restart`);
      assert.ok(await ff.page.evaluate(() => window.huiyi.session.pc === window.__pc), 'the same peer connection (an ICE restart, not a new one)');
    });

    await t.test('Firefox as chair mutes the Chromium participant, asks it to unmute, and walks a roll call', async () => {
      await ff.page.click('#btn-console');
      const row = `#console-list li[data-participant="${idc}"]`;
      await ff.page.waitForSelector(row);
      await ff.page.click(`${row} button:text-is("静音")`);
      await until(cr.page, () => window.huiyi.me.audio_muted === true)
        .catch(() => assert.fail('the mute reaches the Chromium page'));
      assert.equal(await cr.page.textContent('#btn-mic'), '取消静音', 'Chromium\'s microphone button says it is muted');
      await until(ff.page, (idc) => window.huiyi.participants.get(idc)?.audio_muted === true, idc);
      await sleep(500); // packets already in flight
      assert.equal(await audioGrowth(ff.page, idc), 0, 'Firefox hears nothing from the muted participant');

      // A person decides about its own microphone: the chair asks.
      await ff.page.waitForSelector(`${row} button:text-is("取消静音")`);
      await ff.page.click(`${row} button:text-is("取消静音")`);
      await until(cr.page, () => !document.getElementById('unmute-dialog').hidden)
        .catch(() => assert.fail('Chromium is asked to unmute'));
      assert.match(await cr.page.textContent('#unmute-text'), /县政府办/);
      await cr.page.click('#unmute-accept');
      await until(ff.page, (idc) => window.huiyi.participants.get(idc)?.audio_muted === false, idc);
      await sleep(500);
      assert.ok(await audioGrowth(ff.page, idc) > 0, 'Firefox hears the participant again');

      // Roll call: the chair calls the participant, who answers.
      await ff.page.click('#btn-roll-start');
      const call = `#roll-list li[data-participant="${idc}"] button`;
      await ff.page.waitForSelector(call);
      await ff.page.click(call);
      const answered = (idc) => window.huiyi.meetingState?.roll_call?.entries?.find((e) => e.participant === idc)?.status === 'answered';
      // (Its open microphone may answer for it: speaking while called counts.)
      await until(cr.page, (idc) => !document.getElementById('roll-dialog').hidden
        || window.huiyi.meetingState?.roll_call?.entries?.find((e) => e.participant === idc)?.status === 'answered', idc);
      if (!(await cr.page.evaluate(answered, idc))) await cr.page.click('#roll-answer', { timeout: 3000 }).catch(() => {});
      await until(ff.page, (idc) => document.querySelector(`#roll-list li[data-participant="${idc}"]`)?.dataset.status === 'answered', idc);
      if (shots) await ff.page.screenshot({ path: `${shots}/firefox-chair.png` });
      await ff.page.click('#btn-roll-stop');
      await until(cr.page, () => document.getElementById('roll-dialog').hidden);
    });

    await t.test('Firefox\'s WebSocket drops and resumes the session; chat goes through it; Firefox leaves', async () => {
      await ff.page.evaluate(() => window.huiyi.sig.dropForTest());
      await until(ff.page, () => window.huiyi.sig.state === 'open' && window.huiyi.events.filter((e) => e.type === 'welcome').length >= 2);
      assert.equal(await ff.page.evaluate(() => window.huiyi.events.filter((e) => e.type === 'welcome').at(-1).detail.resumed), true, 'the session resumed');
      const left = await cr.page.evaluate((idf) => window.huiyi.events.some((e) => e.type === 'participant_left' && e.detail.id === idf), idf);
      assert.equal(left, false, 'Chromium never saw Firefox leave');
      await ff.page.click('#btn-chat');
      await ff.page.fill('#chat-input', '县政府办：会议继续');
      await ff.page.click('#chat-form button');
      await until(cr.page, () => [...document.querySelectorAll('#chat-list li')].some((li) => li.textContent.includes('县政府办：会议继续')));
      await ff.page.click('#btn-leave');
      await until(ff.page, () => !document.getElementById('ended').hidden);
      await until(cr.page, (idf) => !window.huiyi.participants.has(idf) && !document.querySelector(`.tile[data-participant="${idf}"]`), idf);
    });

    await t.test('the pages request nothing but the Huiyi server', async () => {
      const origin = new URL(links[0]).origin;
      for (const p of people) {
        assert.ok(p.requests.some((u) => u.startsWith(`${origin}/assets/app.js`)), `the page's own requests are seen: ${p.requests.length}`);
        const foreign = p.requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:'));
        assert.deepEqual(foreign, []);
      }
    });
  } finally {
    await Promise.all(people.map((p) => p.browser.close().catch(() => {})));
  }
});
