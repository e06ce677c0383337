// The meeting page's pure policies (model.js) under Node, no browser:
//   node --test web-client/tests/
// `view`: what each received video's tile shows, bucketed as the server
// picks layers, sent only when a bucket or a visibility changes; and the
// retries of a join refused with `link_in_use`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  emptyMeeting, applyAll, msg, receivedVideos, viewBucket, tileView, viewUpdate, viewMessages, VIEW_MAX_TILES,
  nextJoinRetry, secondsUntil, LINK_IN_USE_RETRY, refusalKey,
} from '../model.js';

const person = (id, role = 'participant') => ({ id, name: id, role, audio_muted: false, video_muted: false, connected: true });

test('view: the documented JSON', () => {
  assert.equal(JSON.stringify(msg.view([{ track: '7', height: 360, visible: true }])),
    '{"type":"view","tiles":[{"track":"7","height":360,"visible":true}]}');
});

test('the videos I receive: the others\' cameras and screens, not microphones, not mine', () => {
  const s = applyAll(emptyMeeting(), [{
    type: 'welcome', session: 's', resumed: false, meeting: { id: 'm', title: 'x' },
    you: person('me'), participants: [person('a'), person('b')],
    tracks: [
      { track: '1', participant: 'a', source: 'camera' },
      { track: '2', participant: 'a', source: 'microphone' },
      { track: '3', participant: 'me', source: 'camera' },
      { track: '4', participant: 'b', source: 'screen' },
      { track: '5', participant: 'me', source: 'screen' },
    ],
  }]);
  assert.deepEqual(receivedVideos(s), ['1', '4']);
});

test('buckets as the server picks layers: ≤ 200 the smallest, ≤ 400 the middle, above the full one', () => {
  assert.deepEqual([0, 1, 200, 201, 400, 401, 2160].map(viewBucket), [0, 0, 0, 1, 1, 2, 2]);
});

test('a tile: its height in whole device pixels, visible only when shown, on screen and the page shown', () => {
  const page = { hidden: false, audioOnly: false, dpr: 1.5 };
  const tile = { cssHeight: 180.4, onScreen: true, hidden: false, videoOff: false };
  assert.deepEqual(tileView(tile, page), { height: 271, visible: true }, 'an integer (the server reads a u32)');
  const unseen = { height: 0, visible: false };
  assert.deepEqual(tileView(tile, { ...page, hidden: true }), unseen, 'a hidden page');
  assert.deepEqual(tileView(tile, { ...page, audioOnly: true }), unseen, 'audio-only mode');
  assert.deepEqual(tileView({ ...tile, hidden: true }, page), unseen, 'not laid out (layout, broadcast)');
  assert.deepEqual(tileView({ ...tile, videoOff: true }, page), unseen, 'its camera is off');
  assert.deepEqual(tileView({ ...tile, onScreen: false }, page), unseen, 'scrolled away');
  assert.deepEqual(tileView({ ...tile, cssHeight: 0 }, page), unseen, 'collapsed');
  assert.deepEqual(tileView(null, page), unseen, 'no tile shows it');
  assert.equal(tileView({ onScreen: true }, page), null, 'not measured yet: nothing to say');
  assert.equal(tileView({ cssHeight: 300 }, page), null);
  assert.deepEqual(tileView({ cssHeight: 300 }, { ...page, hidden: true }), unseen, 'a hidden page needs no measure');
  assert.deepEqual(tileView({ cssHeight: 300, onScreen: true }, { dpr: 0 }), { height: 300, visible: true }, 'no ratio: 1');
});

test('view updates: everything at first, then only what changes a bucket or the visibility', () => {
  const v = (height, visible = true) => ({ height, visible });
  let { tiles, sent } = viewUpdate(new Map(), new Map([['1', v(720)], ['2', v(150)], ['3', v(0, false)], ['4', null]]));
  assert.deepEqual(tiles, [
    { track: '1', height: 720, visible: true }, { track: '2', height: 150, visible: true }, { track: '3', height: 0, visible: false },
  ], 'all measured tiles; an unmeasured one waits');

  const same = viewUpdate(sent, new Map([['1', v(650)], ['2', v(199)], ['3', v(500, false)], ['4', null]]));
  assert.deepEqual(same.tiles, [], 'heights within their buckets, a hidden tile resized: nothing to say');

  ({ tiles, sent } = viewUpdate(sent, new Map([['1', v(390)], ['2', v(201)], ['3', v(500)], ['4', v(300)]])));
  assert.deepEqual(tiles, [
    { track: '1', height: 390, visible: true }, { track: '2', height: 201, visible: true },
    { track: '3', height: 500, visible: true }, { track: '4', height: 300, visible: true },
  ], 'the actual heights of those that changed bucket or were shown');

  ({ tiles, sent } = viewUpdate(sent, new Map([['1', v(390, false)], ['2', v(201)]])));
  assert.deepEqual(tiles, [{ track: '1', height: 390, visible: false }], 'hidden');
  assert.deepEqual([...sent.keys()], ['1', '2'], 'tracks gone are forgotten');

  ({ tiles } = viewUpdate(sent, new Map([['1', v(390, false)], ['2', v(201)], ['3', v(500)]])));
  assert.deepEqual(tiles, [{ track: '3', height: 500, visible: true }], 'a track back is said anew');

  const before = new Map(sent);
  viewUpdate(sent, new Map([['1', v(900)]]));
  assert.deepEqual(sent, before, 'sent is not changed');
});

test('view messages: at most 64 tiles each, none for nothing', () => {
  assert.equal(VIEW_MAX_TILES, 64);
  assert.deepEqual(viewMessages([]), []);
  const tiles = Array.from({ length: 130 }, (_, i) => ({ track: String(i), height: 100, visible: true }));
  const out = viewMessages(tiles);
  assert.deepEqual(out.map((m) => m.tiles.length), [64, 64, 2]);
  assert.ok(out.every((m) => m.type === 'view'));
  assert.deepEqual(out.flatMap((m) => m.tiles), tiles, 'in order, none lost');
});

test('link_in_use: retried every 10 s for 2 minutes, then no more', () => {
  assert.deepEqual(LINK_IN_USE_RETRY, { everyMs: 10_000, forMs: 120_000 });
  assert.equal(refusalKey('link_in_use'), 'linkInUse');
  const waits = [];
  for (let retries = 0; ; retries++) {
    const wait = nextJoinRetry(retries);
    if (wait === null) break;
    waits.push(wait);
  }
  assert.equal(waits.length, 12, '12 retries');
  assert.ok(waits.every((w) => w === 10_000));
  assert.equal(waits.reduce((a, b) => a + b, 0), 120_000, 'the last one two minutes after the refusal');
  assert.equal(nextJoinRetry(12), null);
  assert.equal(nextJoinRetry(0, { everyMs: 5000, forMs: 4000 }), null, 'a window shorter than one wait: none');
});

test('the countdown: whole seconds, rounded up, never below 0', () => {
  assert.equal(secondsUntil(10_000, 0), 10);
  assert.equal(secondsUntil(10_000, 1), 10);
  assert.equal(secondsUntil(10_000, 9_001), 1);
  assert.equal(secondsUntil(10_000, 10_000), 0);
  assert.equal(secondsUntil(10_000, 12_000), 0);
});
