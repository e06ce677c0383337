// The meeting as plain data, and the protocol's messages (docs/protocol.md).
// DOM-free and transport-free: no document, no WebSocket, no timers, so it
// runs under Node as it does in the page (web-client/tests/model.test.mjs).
//
//   let m = emptyMeeting();
//   m = applyMessage(m, serverMessage); // a new state, the old one untouched
//   sig.send(msg.grantFloor(id, 180));  // a client message as JSON data
//
// protocol.js carries the messages; app.js and chair.js draw the state.

export const PROTOCOL_VERSION = 1;

// ---------- roles and fixed vocabularies ----------

/// Roles in a meeting (a participant's `role`); each has a label on the meeting page.
export const ROLES = ['chair', 'secretary', 'venue', 'participant', 'observer'];
/// Roles that run the meeting (chair control, the monitor wall).
export const HOST_ROLES = new Set(['chair', 'secretary']);
/// Layouts the chair can push (`control layout`): the chair console's choice.
export const LAYOUTS = ['auto', '1', '1+5', '2x2', '3x3', '4x4'];
/// Where a participant stands in a roll call; each has a label.
export const ROLL_STATUSES = ['waiting', 'calling', 'answered', 'no_answer', 'not_joined'];
/// Close codes after which the client does not reconnect by itself (we
/// left, the hello was refused, replaced elsewhere, meeting ended, removed).
export const FINAL_CLOSE_CODES = [1000, 1008, 4001, 4002, 4003];

// ---------- the state ----------

/// The state before the welcome: nobody, no tracks.
/// `participants`: id → participant object (insertion order = join order);
/// `tracks`: track id → {track, participant, source};
/// `meetingState`: the last `meeting_state` (without `type`), or null;
/// `chat`: every chat message received, oldest first.
export function emptyMeeting() {
  return {
    me: null, // my participant id
    meeting: null, // {id, title}
    session: null, // the resume key of the last welcome
    resumed: false,
    participants: new Map(),
    tracks: new Map(),
    speaker: null, // active speaker id
    meetingState: null,
    chat: [],
    paused: new Map(), // track id → reason: videos the server paused for me (video_paused)
  };
}

/// Server message types that change the state.
export const STATE_MESSAGES = [
  'welcome', 'participant_joined', 'participant_updated', 'participant_left',
  'track', 'track_ended', 'active_speaker', 'meeting_state', 'chat',
  'video_paused', 'video_resumed',
];

const trackInfo = ({ track, participant, source }) => ({ track, participant, source });

/// The state after the server message `m`. Pure: `state` is not changed;
/// the result shares what did not change. Messages that change nothing
/// (offer, answer, error, pong, unmute_request, unknown types) give back
/// `state` itself.
export function applyMessage(state, m) {
  switch (m?.type) {
    case 'welcome': {
      // A welcome is the whole meeting as the server has it now (on a
      // resume too): others, me, every track. The chat log stays.
      const participants = new Map();
      for (const p of m.participants || []) participants.set(p.id, p);
      participants.set(m.you.id, m.you);
      const tracks = new Map((m.tracks || []).map((tr) => [tr.track, trackInfo(tr)]));
      // A resumed session keeps its pauses (the server does not repeat
      // them) for the tracks that are still there; a fresh one has none.
      const paused = m.resumed ? new Map([...(state.paused ?? [])].filter(([id]) => tracks.has(id))) : new Map();
      return {
        ...state,
        me: m.you.id,
        meeting: m.meeting,
        session: m.session ?? null,
        resumed: !!m.resumed,
        participants,
        tracks,
        paused,
        speaker: m.active_speaker ?? null,
      };
    }
    case 'participant_joined':
    case 'participant_updated': {
      const participants = new Map(state.participants);
      participants.set(m.participant.id, m.participant);
      return { ...state, participants };
    }
    case 'participant_left': {
      if (!state.participants.has(m.id)) return state;
      const participants = new Map(state.participants);
      participants.delete(m.id);
      return { ...state, participants };
    }
    case 'track': {
      const tracks = new Map(state.tracks);
      tracks.set(m.track, trackInfo(m));
      return videoArrived({ ...state, tracks }, m.track);
    }
    case 'track_ended': {
      if (!state.tracks.has(m.track)) return videoArrived(state, m.track);
      const tracks = new Map(state.tracks);
      tracks.delete(m.track);
      return videoArrived({ ...state, tracks }, m.track);
    }
    case 'video_paused': {
      if (!m.track || state.paused?.get(m.track) === (m.reason ?? 'bandwidth')) return state;
      const paused = new Map(state.paused ?? []);
      paused.set(m.track, m.reason ?? 'bandwidth');
      return { ...state, paused };
    }
    case 'video_resumed':
      return videoArrived(state, m.track);
    case 'active_speaker':
      return { ...state, speaker: m.participant ?? null };
    case 'meeting_state': {
      const { type, ...meetingState } = m;
      return { ...state, meetingState };
    }
    case 'chat':
      return { ...state, chat: [...state.chat, { from: m.from, name: m.name, text: m.text, at: m.at }] };
    default:
      return state;
  }
}

/// The state once video `trackId` arrives anew (a new media track for it,
/// a new announcement, its end): not paused any more. `state` itself when
/// it was not paused.
export function videoArrived(state, trackId) {
  if (!state.paused?.has(trackId)) return state;
  const paused = new Map(state.paused);
  paused.delete(trackId);
  return { ...state, paused };
}

/// The state without any pause: a new media session at the server (a
/// publish with `restart`) starts with every video flowing.
export const withoutPauses = (state) => (state.paused?.size ? { ...state, paused: new Map() } : state);

/// Applies messages in order (tests, replaying a log).
export const applyAll = (state, messages) => messages.reduce(applyMessage, state);

// ---------- reading the state ----------

/// My participant object, once welcomed.
export const myself = (s) => (s.me ? s.participants.get(s.me) ?? null : null);

/// A participant's name, or `fallback` for an id not (or no longer) present.
export const nameOf = (s, id, fallback = '') => s.participants.get(id)?.name ?? fallback;

/// Whether I run the meeting: chair or secretary by role, or the chair
/// handed to me (`meeting_state.chair`).
export function isHost(s) {
  const me = myself(s);
  return !!me && (HOST_ROLES.has(me.role) || s.meetingState?.chair === me.id);
}

/// The camera track a participant publishes, or undefined.
export const cameraOf = (s, participantId) =>
  [...s.tracks.values()].find((x) => x.participant === participantId && x.source === 'camera');

/// Why the server paused video `trackId` for me ('bandwidth'), or null
/// when it flows (or was never paused).
export const videoPaused = (s, trackId) => (trackId ? s.paused?.get(trackId) ?? null : null);

/// Screen shares, `[trackId, info]` in the order they started.
export const screenShares = (s) => [...s.tracks].filter(([, info]) => info.source === 'screen');

/// Whether my hand is up (in the speaking queue).
export const handRaised = (s) => !!s.me && (s.meetingState?.hands || []).includes(s.me);

/// Whether I have the floor.
export const haveFloor = (s) => !!s.me && s.meetingState?.floor === s.me;

/// Whole seconds left of the current speech at `now` (Unix ms), or null
/// when the floor has no time limit.
export function floorSecondsLeft(s, now) {
  const ends = s.meetingState?.floor_ends_at;
  return ends ? Math.max(0, Math.round((ends - now) / 1000)) : null;
}

/// The running roll call (not finished), or null.
export function activeRollCall(s) {
  const rc = s.meetingState?.roll_call;
  return rc && !rc.finished ? rc : null;
}

/// Whether the roll call is calling me now and I have not answered.
export function beingCalled(s) {
  const rc = activeRollCall(s);
  if (!rc || !s.me || rc.current !== s.me) return false;
  return rc.entries?.find((e) => e.participant === s.me)?.status === 'calling';
}

/// Whom a roll call started by me calls: everyone present but observers,
/// hosts and me; venues first, then by id.
export function rollCallOrder(s) {
  return [...s.participants.values()]
    .filter((p) => p.role !== 'observer' && !HOST_ROLES.has(p.role) && p.id !== s.me)
    .sort((a, b) => (a.role === 'venue' ? 0 : 1) - (b.role === 'venue' ? 0 : 1) || a.id.localeCompare(b.id))
    .map((p) => p.id);
}

/// The participants shown by a sub-venue in broadcast mode (hosts see
/// everyone): a set of ids, or null when there is no broadcast for me.
export function onAirFor(s) {
  const broadcast = s.meetingState?.broadcast;
  return broadcast && !isHost(s) ? new Set(broadcast) : null;
}

// ---------- client messages ----------

/// Adds the fields of `extra` that are not undefined.
function defined(base, extra) {
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) base[k] = v;
  return base;
}

const control = (action, fields = {}) => defined({ type: 'control', action }, fields);

/// Builders of every client message, as the JSON objects to send.
export const msg = Object.freeze({
  /// `auth`: {token} or {demo_meeting, name}; `resume`: the last welcome's session.
  hello: (auth = {}, resume = undefined) => defined({ type: 'hello', version: PROTOCOL_VERSION }, { ...auth, resume: resume || undefined }),
  /// `tracks`: [{mid, source}]; `restart` after a new peer connection.
  publish: (sdp, tracks = [], restart = false) => ({ type: 'publish', sdp, tracks, restart }),
  answer: (offerId, sdp) => ({ type: 'answer', offer_id: offerId, sdp }),
  /// `{audio}` and/or `{video}`: true mutes.
  mute: ({ audio, video } = {}) => defined({ type: 'mute' }, { audio, video }),
  /// `video: false` is audio-only mode.
  receive: (video) => ({ type: 'receive', video }),
  /// `tiles`: [{track, height, visible}] (at most VIEW_MAX_TILES; `viewMessages` splits).
  view: (tiles) => ({ type: 'view', tiles }),
  chat: (text) => ({ type: 'chat', text }),
  /// 0 bad … 3 good.
  quality: (level) => ({ type: 'quality', level }),
  ping: (nonce = undefined) => defined({ type: 'ping' }, { nonce }),
  leave: () => ({ type: 'leave' }),
  raiseHand: () => ({ type: 'raise_hand' }),
  lowerHand: () => ({ type: 'lower_hand' }),
  signIn: () => ({ type: 'sign_in' }),
  rollCallAnswer: () => ({ type: 'roll_call_answer' }),

  // Chair control ({type: 'control', action, …}).
  control,
  muteParticipant: (participant, muted) => control('mute_participant', { participant, muted }),
  muteAll: (lock = false) => control('mute_all', { lock }),
  unlockMics: () => control('unlock_mics'),
  /// `seconds`: the speaking time limit, null for none.
  grantFloor: (participant, seconds = null) => control('grant_floor', { participant, seconds }),
  declineHand: (participant) => control('decline_hand', { participant }),
  endSpeech: () => control('end_speech'),
  lowerAllHands: () => control('lower_all_hands'),
  /// `participants`: ids on air, or null to end the broadcast.
  broadcast: (participants) => control('broadcast', { participants }),
  lockMeeting: (locked) => control('lock_meeting', { locked }),
  record: (on) => control('record', { on }),
  live: (on) => control('live', { on }),
  /// `bar`: refuse its link for the rest of the meeting.
  removeParticipant: (participant, bar = false) => control('remove_participant', { participant, bar }),
  endMeeting: () => control('end_meeting'),
  transferChair: (participant) => control('transfer_chair', { participant }),
  takeChair: () => control('take_chair'),
  /// `participant`: shown large for everyone, or null.
  spotlight: (participant) => control('spotlight', { participant }),
  layout: (layout) => control('layout', { layout }),
  /// `participants`: ids in calling order (omitted: the server's default).
  rollCallStart: (participants = undefined, { auto = false, timeoutSecs = undefined } = {}) =>
    control('roll_call_start', { participants, auto: auto || undefined, timeout_secs: timeoutSecs }),
  rollCallCall: (participant) => control('roll_call_call', { participant }),
  rollCallNext: () => control('roll_call_next'),
  rollCallStop: () => control('roll_call_stop'),
});

// ---------- what my tiles show (`view`) ----------

/// At most this many tiles in one `view` message (the server reads no more).
export const VIEW_MAX_TILES = 64;

/// The videos I receive: the track ids of the others' cameras and screens.
export const receivedVideos = (s) =>
  [...s.tracks.values()].filter((x) => x.participant !== s.me && (x.source === 'camera' || x.source === 'screen')).map((x) => x.track);

/// The simulcast layer a tile `height` device pixels high gets at most, as
/// the server picks it: 0 (≤ 200, the smallest), 1 (≤ 400), 2 (the full one).
export const viewBucket = (height) => (height <= 200 ? 0 : height <= 400 ? 1 : 2);

/// What to say of one received video. `tile`: null when no tile shows it,
/// else {cssHeight, onScreen} as the observers last measured it (undefined
/// before they did), `hidden` (not laid out: another layout, broadcast)
/// and `videoOff` (its camera is off: the tile shows no picture). `page`:
/// {hidden (document.visibilityState), audioOnly, dpr (devicePixelRatio)}.
/// {height (device px, an integer), visible}, or null while the tile is
/// not measured yet (nothing said: the server keeps what it had).
export function tileView(tile, { hidden = false, audioOnly = false, dpr = 1 } = {}) {
  const unseen = { height: 0, visible: false };
  if (hidden || audioOnly || !tile || tile.hidden || tile.videoOff) return unseen;
  if (tile.cssHeight === undefined || tile.onScreen === undefined) return null;
  const height = Math.max(0, Math.round(tile.cssHeight * (dpr > 0 ? dpr : 1)));
  return tile.onScreen && height > 0 ? { height, visible: true } : unseen;
}

/// What a `view` last said of a video, as far as it matters: its bucket,
/// or 'hidden'.
const viewKey = ({ height, visible }) => (visible ? viewBucket(height) : 'hidden');

/// The tiles to send: those of `current` (track → {height, visible}, null
/// for a tile not measured yet) whose bucket or visibility differs from
/// what `sent` (track → the last said, as returned here before) holds, with
/// their actual height. `sent` is not changed: the new one is returned,
/// holding only the tracks of `current` that were said (a track gone, or
/// not measured, is said anew when it is back). An empty `sent` says all.
export function viewUpdate(sent, current) {
  const tiles = [];
  const next = new Map();
  for (const [track, view] of current) {
    if (!view) continue;
    const key = viewKey(view);
    if (sent.get(track) !== key) tiles.push({ track, height: view.height, visible: view.visible });
    next.set(track, key);
  }
  return { tiles, sent: next };
}

/// `view` messages for `tiles`, VIEW_MAX_TILES at most each (none for none).
export function viewMessages(tiles) {
  const out = [];
  for (let i = 0; i < tiles.length; i += VIEW_MAX_TILES) out.push(msg.view(tiles.slice(i, i + VIEW_MAX_TILES)));
  return out;
}

// ---------- refused joins ----------

/// Why the server refused a `hello` (its `error`, then the close 1008), as
/// a key of the meeting page's dictionary; null for an error that is no
/// refusal of the join. The code says most; the message (the server's
/// words, docs/protocol.md) tells a link replaced by a new one from a
/// withdrawn invitation, a cancelled meeting from an ended one.
export function refusalKey(code, message = '') {
  switch (code) {
    case 'link_in_use': return 'linkInUse';
    case 'forbidden':
      if (/replaced by a new one/.test(message)) return 'linkReplaced';
      if (/withdrawn|no longer on the meeting/.test(message)) return 'linkRevoked';
      if (/removed you/.test(message)) return 'removedText';
      return 'joinForbidden';
    case 'meeting_closed':
      if (/cancelled/.test(message)) return 'meetingCancelled';
      if (/not opened yet/.test(message)) return 'meetingNotOpen';
      if (/locked/.test(message)) return 'meetingLockedJoin';
      return 'meetingOver';
    case 'unauthorized': return 'linkInvalid';
    case 'unsupported_version': return 'reloadPage';
    case 'full': return /server/.test(message) ? 'serverFull' : 'meetingFull';
    default: return null;
  }
}

/// The dictionary keys `refusalKey` can give (each needs a string).
export const REFUSAL_KEYS = [
  'linkInUse', 'linkReplaced', 'linkRevoked', 'removedText', 'joinForbidden', 'meetingCancelled',
  'meetingNotOpen', 'meetingLockedJoin', 'meetingOver', 'linkInvalid', 'reloadPage', 'meetingFull', 'serverFull',
];

/// A join refused with `link_in_use` is tried again: the holder may be
/// this very PC before it crashed or restarted, whose connection the server
/// still counts as open until its keepalive gives up (30–40 s). Every
/// `everyMs`, for `forMs` at most; any other refusal is final.
export const LINK_IN_USE_RETRY = Object.freeze({ everyMs: 10_000, forMs: 120_000 });

/// After `retries` retries (each refused with `link_in_use`): ms until the
/// next one, or null when it is time to stop.
export function nextJoinRetry(retries, { everyMs, forMs } = LINK_IN_USE_RETRY) {
  return (retries + 1) * everyMs <= forMs ? everyMs : null;
}

/// Whole seconds from `now` until `at` (ms), for a countdown: never below 0.
export const secondsUntil = (at, now) => Math.max(0, Math.ceil((at - now) / 1000));

// ---------- join tokens ----------

/// The claims of a join token (`base64url(JSON) "." signature`), read
/// without checking the signature (the server does): `m` meeting, `t`
/// title, `p` participant, `n` name, `r` role, `nbf`/`exp`. Null when the
/// token cannot be read.
export function tokenClaims(token) {
  try {
    const body = token.split('.')[0].replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(Uint8Array.from(atob(body), (c) => c.charCodeAt(0)));
    return JSON.parse(json);
  } catch { return null; }
}
