// The DOM-free meeting model (model.js) under Node, no browser:
//   node --test web-client/tests/
// Server messages go in as the server sends them (docs/protocol.md); the
// state that comes out, and the JSON of every client message, are checked.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PROTOCOL_VERSION, emptyMeeting, applyMessage, applyAll, msg, myself, nameOf, isHost,
  cameraOf, screenShares, handRaised, haveFloor, floorSecondsLeft, activeRollCall, beingCalled, rollCallOrder,
  onAirFor, tokenClaims, videoPaused, videoArrived, withoutPauses, STATE_MESSAGES,
} from '../model.js';

const person = (id, name, role = 'participant', extra = {}) => ({
  id, name, role, audio_muted: false, video_muted: false, quality: null, connected: true, signed_in: false, ...extra,
});

const welcome = (extra = {}) => ({
  type: 'welcome',
  version: 1,
  session: 'sess-1',
  resumed: false,
  meeting: { id: 'm1', title: '全县每周工作例会' },
  you: person('v1', '城关镇会议室', 'venue'),
  participants: [person('chair', '县长', 'chair'), person('v2', '河口乡会议室', 'venue')],
  tracks: [
    { track: 't-chair-cam', participant: 'chair', source: 'camera' },
    { track: 't-chair-mic', participant: 'chair', source: 'microphone' },
  ],
  active_speaker: 'chair',
  ...extra,
});

const meetingState = (extra = {}) => ({
  type: 'meeting_state',
  locked: false,
  mics_locked: false,
  hands: [],
  floor: null,
  floor_ends_at: null,
  broadcast: null,
  spotlight: null,
  layout: 'auto',
  chair: 'chair',
  roll_call: null,
  ...extra,
});

const ids = (s) => [...s.participants.keys()];

test('the empty state', () => {
  const s = emptyMeeting();
  assert.equal(s.me, null);
  assert.equal(s.participants.size, 0);
  assert.equal(s.tracks.size, 0);
  assert.equal(s.meetingState, null);
  assert.deepEqual(s.chat, []);
  assert.equal(myself(s), null);
  assert.equal(isHost(s), false);
});

test('welcome: me, the others, tracks, speaker', () => {
  const s = applyMessage(emptyMeeting(), welcome());
  assert.equal(s.me, 'v1');
  assert.deepEqual(s.meeting, { id: 'm1', title: '全县每周工作例会' });
  assert.equal(s.session, 'sess-1');
  assert.deepEqual(ids(s), ['chair', 'v2', 'v1']);
  assert.equal(myself(s).name, '城关镇会议室');
  assert.equal(s.speaker, 'chair');
  assert.deepEqual([...s.tracks.keys()], ['t-chair-cam', 't-chair-mic']);
  assert.deepEqual(s.tracks.get('t-chair-cam'), { track: 't-chair-cam', participant: 'chair', source: 'camera' });
  assert.equal(isHost(s), false, 'a venue does not run the meeting');
});

test('joins, updates and leaves keep the participant list', () => {
  const s = applyAll(emptyMeeting(), [
    welcome(),
    { type: 'participant_joined', participant: person('v3', '石桥镇会议室', 'venue') },
    { type: 'participant_joined', participant: person('p1', '李四') },
    { type: 'participant_updated', participant: person('v2', '河口乡会议室', 'venue', { audio_muted: true, connected: false }) },
    { type: 'participant_left', id: 'v3', reason: 'left' },
    { type: 'participant_left', id: 'nobody', reason: 'timeout' },
  ]);
  assert.deepEqual(ids(s), ['chair', 'v2', 'v1', 'p1'], 'an update keeps its place; a leave removes');
  assert.equal(s.participants.get('v2').audio_muted, true);
  assert.equal(s.participants.get('v2').connected, false);
  assert.equal(nameOf(s, 'p1'), '李四');
  assert.equal(nameOf(s, 'v3', '?'), '?', 'who left has no name any more');
});

test('tracks come and go; cameras and screen shares are found', () => {
  const s = applyAll(emptyMeeting(), [
    welcome(),
    { type: 'track', track: 't-v2-cam', participant: 'v2', source: 'camera' },
    { type: 'track', track: 't-v2-screen', participant: 'v2', source: 'screen' },
    { type: 'track_ended', track: 't-chair-cam' },
  ]);
  assert.deepEqual([...s.tracks.keys()], ['t-chair-mic', 't-v2-cam', 't-v2-screen']);
  assert.equal(cameraOf(s, 'v2').track, 't-v2-cam');
  assert.deepEqual(s.tracks.get('t-v2-screen'), { track: 't-v2-screen', participant: 'v2', source: 'screen' });
  assert.equal(cameraOf(s, 'chair'), undefined, 'the chair\'s camera ended');
  assert.deepEqual(screenShares(s).map(([id]) => id), ['t-v2-screen']);
  const after = applyMessage(s, { type: 'track_ended', track: 't-v2-screen' });
  assert.deepEqual(screenShares(after), []);
});

test('applying is pure: the earlier state is untouched', () => {
  const s0 = applyMessage(emptyMeeting(), welcome());
  const before = { ids: ids(s0), tracks: [...s0.tracks.keys()], speaker: s0.speaker };
  const s1 = applyAll(s0, [
    { type: 'participant_joined', participant: person('v3', '石桥镇会议室', 'venue') },
    { type: 'participant_left', id: 'v2', reason: 'left' },
    { type: 'track', track: 't-v3-cam', participant: 'v3', source: 'camera' },
    { type: 'track_ended', track: 't-chair-mic' },
    { type: 'active_speaker', participant: 'v3' },
    meetingState(),
    { type: 'chat', from: 'v3', name: '石桥镇会议室', text: '收到', at: 1 },
  ]);
  assert.deepEqual({ ids: ids(s0), tracks: [...s0.tracks.keys()], speaker: s0.speaker }, before);
  assert.equal(s0.meetingState, null);
  assert.deepEqual(s0.chat, []);
  assert.notEqual(s1.participants, s0.participants);
  assert.deepEqual(ids(s1), ['chair', 'v1', 'v3']);
  assert.equal(s1.speaker, 'v3');
});

test('messages that change nothing give back the same state', () => {
  const s = applyMessage(emptyMeeting(), welcome());
  for (const m of [
    { type: 'offer', offer_id: 1, sdp: 'v=0', tracks: [] },
    { type: 'answer', sdp: 'v=0' },
    { type: 'error', code: 'forbidden', message: 'no' },
    { type: 'pong', nonce: 1 },
    { type: 'unmute_request', by: 'chair' },
    { type: 'something_new' },
    { type: 'track_ended', track: 'unknown' },
    { type: 'participant_left', id: 'unknown', reason: 'left' },
  ]) {
    assert.equal(applyMessage(s, m), s, m.type);
  }
});

test('a welcome after a reconnection is the whole meeting again; the chat log stays', () => {
  const s1 = applyAll(emptyMeeting(), [
    welcome(),
    { type: 'chat', from: 'chair', name: '县长', text: '开始开会', at: 1700000000000 },
    { type: 'track', track: 't-v2-screen', participant: 'v2', source: 'screen' },
  ]);
  // While we were away v2 left and its share ended; the server's welcome says so.
  const s2 = applyMessage(s1, welcome({ resumed: true, session: 'sess-2', participants: [person('chair', '县长', 'chair')], active_speaker: null }));
  assert.equal(s2.resumed, true);
  assert.equal(s2.session, 'sess-2');
  assert.deepEqual(ids(s2), ['chair', 'v1']);
  assert.deepEqual(screenShares(s2), []);
  assert.equal(s2.speaker, null);
  assert.deepEqual(s2.chat, [{ from: 'chair', name: '县长', text: '开始开会', at: 1700000000000 }]);
});

test('meeting_state: chair, floor, hands, timer, broadcast', () => {
  const s0 = applyMessage(emptyMeeting(), welcome());
  const s = applyMessage(s0, meetingState({ hands: ['v2', 'v1'], floor: 'chair', broadcast: ['chair'], locked: true }));
  assert.equal(s.meetingState.type, undefined, 'the type is not part of the state');
  assert.equal(s.meetingState.chair, 'chair');
  assert.equal(s.meetingState.floor, 'chair');
  assert.equal(s.meetingState.locked, true);
  assert.equal(handRaised(s), true);
  assert.equal(haveFloor(s), false);
  assert.equal(floorSecondsLeft(s, 0), null, 'no time limit');
  assert.deepEqual([...onAirFor(s)], ['chair'], 'a venue sees only what is broadcast');

  const given = applyMessage(s, meetingState({ floor: 'v1', floor_ends_at: 1_000_000 + 180_000 }));
  assert.equal(haveFloor(given), true);
  assert.equal(handRaised(given), false);
  assert.equal(floorSecondsLeft(given, 1_000_000), 180);
  assert.equal(floorSecondsLeft(given, 1_000_000 + 179_400), 1);
  assert.equal(floorSecondsLeft(given, 1_000_000 + 999_000), 0);
  assert.equal(onAirFor(given), null, 'no broadcast');
});

test('who runs the meeting: chair and secretary roles, or the chair handed over', () => {
  const asChair = applyMessage(emptyMeeting(), welcome({ you: person('chair', '县长', 'chair'), participants: [person('v1', '城关镇会议室', 'venue')] }));
  assert.equal(isHost(asChair), true);
  const withBroadcast = applyMessage(asChair, meetingState({ broadcast: ['v1'] }));
  assert.equal(onAirFor(withBroadcast), null, 'hosts see everyone during a broadcast');
  const asSecretary = applyMessage(emptyMeeting(), welcome({ you: person('sec', '会务', 'secretary') }));
  assert.equal(isHost(asSecretary), true);
  const venue = applyMessage(emptyMeeting(), welcome());
  assert.equal(isHost(venue), false);
  assert.equal(isHost(applyMessage(venue, meetingState({ chair: 'v1' }))), true, 'transfer_chair made me the chair');
});

test('roll call: who is called, whether it is me, the calling order', () => {
  const s0 = applyAll(emptyMeeting(), [
    welcome({ you: person('chair', '县长', 'chair'), participants: [] }),
    { type: 'participant_joined', participant: person('p2', '王五') },
    { type: 'participant_joined', participant: person('v2', '河口乡会议室', 'venue') },
    { type: 'participant_joined', participant: person('obs', '列席', 'observer') },
    { type: 'participant_joined', participant: person('v1', '城关镇会议室', 'venue') },
    { type: 'participant_joined', participant: person('sec', '会务', 'secretary') },
    { type: 'participant_joined', participant: person('p1', '李四') },
  ]);
  assert.deepEqual(rollCallOrder(s0), ['v1', 'v2', 'p1', 'p2'], 'venues first, by id; no hosts, observers or me');

  const entry = (participant, status) => ({ participant, name: participant, status, called_at: null, answered_at: null });
  const rc = { entries: [entry('v1', 'calling'), entry('v2', 'waiting')], current: 'v1', auto: false, timeout_secs: 20, started_at: 1, finished: false };
  const venue = applyAll(emptyMeeting(), [welcome(), meetingState({ roll_call: rc })]);
  assert.equal(activeRollCall(venue).current, 'v1');
  assert.equal(beingCalled(venue), true);
  const answered = applyMessage(venue, meetingState({ roll_call: { ...rc, entries: [entry('v1', 'answered'), entry('v2', 'waiting')] } }));
  assert.equal(beingCalled(answered), false);
  const finished = applyMessage(venue, meetingState({ roll_call: { ...rc, finished: true } }));
  assert.equal(activeRollCall(finished), null);
  assert.equal(beingCalled(finished), false);
});

test('chat messages are logged in order', () => {
  const s = applyAll(emptyMeeting(), [
    welcome(),
    { type: 'chat', from: 'chair', name: '县长', text: '请各乡镇汇报', at: 1 },
    { type: 'chat', from: 'v1', name: '城关镇会议室', text: '城关镇收到', at: 2 },
  ]);
  assert.deepEqual(s.chat.map((c) => c.text), ['请各乡镇汇报', '城关镇收到']);
  assert.deepEqual(s.chat[1], { from: 'v1', name: '城关镇会议室', text: '城关镇收到', at: 2 });
});

test('client messages: the documented JSON', () => {
  const json = (m) => JSON.stringify(m);
  assert.equal(PROTOCOL_VERSION, 1);
  assert.equal(json(msg.hello({ token: 'abc.def' })), '{"type":"hello","version":1,"token":"abc.def"}');
  assert.equal(json(msg.hello({ token: 'abc.def' }, 'sess-1')), '{"type":"hello","version":1,"token":"abc.def","resume":"sess-1"}');
  assert.equal(json(msg.hello({ demo_meeting: 'demo', name: '张三' }, null)), '{"type":"hello","version":1,"demo_meeting":"demo","name":"张三"}');
  assert.deepEqual(msg.publish('v=0', [{ mid: '0', source: 'microphone' }, { mid: '1', source: 'camera' }], true),
    { type: 'publish', sdp: 'v=0', tracks: [{ mid: '0', source: 'microphone' }, { mid: '1', source: 'camera' }], restart: true });
  assert.deepEqual(msg.answer(7, 'v=0'), { type: 'answer', offer_id: 7, sdp: 'v=0' });
  assert.equal(json(msg.mute({ audio: true })), '{"type":"mute","audio":true}');
  assert.equal(json(msg.mute({ video: false })), '{"type":"mute","video":false}');
  assert.deepEqual(msg.receive(false), { type: 'receive', video: false });
  assert.deepEqual(msg.chat('城关镇收到'), { type: 'chat', text: '城关镇收到' });
  assert.deepEqual(msg.quality(2), { type: 'quality', level: 2 });
  assert.equal(json(msg.ping()), '{"type":"ping"}', 'no nonce: none sent (the server wants a number or nothing)');
  assert.deepEqual(msg.ping(5), { type: 'ping', nonce: 5 });
  assert.deepEqual(msg.leave(), { type: 'leave' });
  assert.deepEqual(msg.raiseHand(), { type: 'raise_hand' });
  assert.deepEqual(msg.lowerHand(), { type: 'lower_hand' });
  assert.deepEqual(msg.signIn(), { type: 'sign_in' });
  assert.deepEqual(msg.rollCallAnswer(), { type: 'roll_call_answer' });
});

test('chair control messages: the documented JSON', () => {
  const c = (action, fields = {}) => ({ type: 'control', action, ...fields });
  const cases = [
    [msg.muteParticipant('v1', true), c('mute_participant', { participant: 'v1', muted: true })],
    [msg.muteAll(true), c('mute_all', { lock: true })],
    [msg.unlockMics(), c('unlock_mics')],
    [msg.grantFloor('v1', 180), c('grant_floor', { participant: 'v1', seconds: 180 })],
    [msg.grantFloor('v1'), c('grant_floor', { participant: 'v1', seconds: null })],
    [msg.declineHand('v1'), c('decline_hand', { participant: 'v1' })],
    [msg.endSpeech(), c('end_speech')],
    [msg.lowerAllHands(), c('lower_all_hands')],
    [msg.broadcast(['chair']), c('broadcast', { participants: ['chair'] })],
    [msg.broadcast(null), c('broadcast', { participants: null })],
    [msg.lockMeeting(true), c('lock_meeting', { locked: true })],
    [msg.removeParticipant('v1', true), c('remove_participant', { participant: 'v1', bar: true })],
    [msg.endMeeting(), c('end_meeting')],
    [msg.transferChair('v1'), c('transfer_chair', { participant: 'v1' })],
    [msg.takeChair(), c('take_chair')],
    [msg.spotlight('v1'), c('spotlight', { participant: 'v1' })],
    [msg.spotlight(null), c('spotlight', { participant: null })],
    [msg.layout('2x2'), c('layout', { layout: '2x2' })],
    [msg.rollCallStart(['v1', 'v2']), c('roll_call_start', { participants: ['v1', 'v2'] })],
    [msg.rollCallStart(['v1'], { auto: true, timeoutSecs: 30 }), c('roll_call_start', { participants: ['v1'], auto: true, timeout_secs: 30 })],
    [msg.rollCallStart(), c('roll_call_start')],
    [msg.rollCallCall('v1'), c('roll_call_call', { participant: 'v1' })],
    [msg.rollCallNext(), c('roll_call_next')],
    [msg.rollCallStop(), c('roll_call_stop')],
  ];
  for (const [built, documented] of cases) assert.equal(JSON.stringify(built), JSON.stringify(documented), documented.action);
});

test('join token claims are read (not checked) from the link', () => {
  const claims = { m: 'm1', t: '全县每周工作例会', p: 'v1', n: '城关镇会议室', r: 'venue', nbf: 1, exp: 2 };
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  assert.deepEqual(tokenClaims(`${body}.c2lnbmF0dXJl`), claims);
  assert.equal(tokenClaims('not a token'), null);
});

test('video_paused / video_resumed: which videos the server paused for my link', () => {
  assert.ok(STATE_MESSAGES.includes('video_paused') && STATE_MESSAGES.includes('video_resumed'));
  const s0 = applyMessage(emptyMeeting(), welcome());
  assert.equal(s0.paused.size, 0);
  assert.equal(videoPaused(s0, 't-chair-cam'), null);
  const s1 = applyMessage(s0, { type: 'video_paused', track: 't-chair-cam', reason: 'bandwidth' });
  assert.equal(videoPaused(s1, 't-chair-cam'), 'bandwidth');
  assert.equal(s0.paused.size, 0, 'the old state is untouched');
  assert.equal(applyMessage(s1, { type: 'video_paused', track: 't-chair-cam', reason: 'bandwidth' }), s1, 'a repeat changes nothing');
  assert.equal(videoPaused(applyMessage(s0, { type: 'video_paused', track: 't-x' }), 't-x'), 'bandwidth', 'no reason: bandwidth');
  const s2 = applyMessage(s1, { type: 'video_resumed', track: 't-chair-cam' });
  assert.equal(videoPaused(s2, 't-chair-cam'), null);
  assert.equal(applyMessage(s2, { type: 'video_resumed', track: 't-chair-cam' }), s2, 'resuming a flowing video changes nothing');
  assert.equal(videoPaused(s1, null), null);
});

test('a pause ends with its track, a new announcement, a new media track or a new media session', () => {
  const s0 = applyAll(emptyMeeting(), [welcome(), { type: 'video_paused', track: 't-chair-cam', reason: 'bandwidth' }]);
  assert.equal(videoPaused(applyMessage(s0, { type: 'track_ended', track: 't-chair-cam' }), 't-chair-cam'), null);
  assert.equal(videoPaused(applyMessage(s0, { type: 'track', track: 't-chair-cam', participant: 'chair', source: 'camera' }), 't-chair-cam'), null);
  assert.equal(videoPaused(videoArrived(s0, 't-chair-cam'), 't-chair-cam'), null);
  assert.equal(videoArrived(s0, 't-other'), s0, 'another track: unchanged');
  assert.equal(withoutPauses(s0).paused.size, 0);
  const s1 = withoutPauses(s0);
  assert.equal(withoutPauses(s1), s1);
  // A pause of a track not announced yet is kept, and ends with its track_ended too.
  const s2 = applyMessage(s0, { type: 'video_paused', track: 't-new', reason: 'bandwidth' });
  assert.equal(videoPaused(s2, 't-new'), 'bandwidth');
  assert.equal(videoPaused(applyMessage(s2, { type: 'track_ended', track: 't-new' }), 't-new'), null);
});

test('a resumed welcome keeps the pauses of tracks still there; a fresh one has none', () => {
  const s0 = applyAll(emptyMeeting(), [
    welcome(),
    { type: 'track', track: 't-v2-cam', participant: 'v2', source: 'camera' },
    { type: 'video_paused', track: 't-chair-cam', reason: 'bandwidth' },
    { type: 'video_paused', track: 't-v2-cam', reason: 'bandwidth' },
  ]);
  const resumed = applyMessage(s0, welcome({ resumed: true }));
  assert.deepEqual([...resumed.paused.keys()], ['t-chair-cam'], 't-v2-cam is not in the welcome\'s tracks');
  assert.equal(applyMessage(s0, welcome({ resumed: false })).paused.size, 0);
});
