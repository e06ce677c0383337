// The meeting page: pre-join, the meeting (grid / speaker views, chat,
// participant list, controls), kiosk mode for unattended venue PCs.

import { Signaling } from './protocol.js';
import { MediaSession } from './media.js';
import {
  emptyMeeting, applyMessage, STATE_MESSAGES, msg, myself, nameOf, isHost, cameraOf, screenShares, onAirFor, tokenClaims, refusalKey,
  videoPaused, videoArrived, withoutPauses, receivedVideos, tileView, viewUpdate, viewMessages, nextJoinRetry, secondsUntil, LINK_IN_USE_RETRY,
} from './model.js';
import { t, label, langTag, applyStrings, toggleLang, useStrings } from './i18n.js';
import { STRINGS } from './meeting-i18n.js';
import { $, h, byData } from './dom.js';
import { renderNotices, renderConsole, wireConsole } from './chair.js';
import { prejoinCheck } from './check.js';
import { preview, previewed, stopMeter } from './prejoin.js';

useStrings(STRINGS);

const params = new URLSearchParams(location.search);
const token = params.get('token');
const demo = params.get('demo');
const kiosk = params.get('kiosk') === '1';

/// The page's state: the meeting as the server describes it (`model`,
/// model.js), and what only this page knows (media, view, unread chat).
const state = {
  model: emptyMeeting(),
  media: new Map(), // trackId → {track, stream}
  view: 'grid', audioOnly: false, cycleFocus: null,
  sig: null, session: null, local: null, chatUnread: 0,
  viewReady: false, // the server has my media session: `view` messages count
  viewSent: new Map(), // track → what the last `view` said of it (model.js viewUpdate)
  events: [], // server messages logged, in order: {type, detail, at (ms), track (when the message names one)} (support and tests)
  // The model's parts by their old names (tests and support staff read these).
  get me() { return myself(this.model); },
  get meeting() { return this.model.meeting; },
  get participants() { return this.model.participants; }, // id → participant
  get tracks() { return this.model.tracks; }, // trackId → {track, participant, source}
  get speaker() { return this.model.speaker; },
  get meetingState() { return this.model.meetingState; }, // chair-controlled state (meeting_state)
};
window.huiyi = state; // for tests and support staff (read-only use)

/// Server messages kept in `state.events`.
const LOGGED = ['welcome', 'participant_joined', 'participant_left', 'participant_updated', 'track', 'track_ended', 'offer', 'answer', 'error', 'chat', 'link_reused',
  'video_paused', 'video_resumed'];

function show(screen) {
  for (const id of ['prejoin', 'meeting', 'ended']) $(id).hidden = id !== screen;
}

// ---------- joining ----------

async function join() {
  $('join').disabled = true;
  $('join').textContent = t('joining');
  stopMeter();
  state.audioOnly = $('audio-only').checked;
  state.local = previewed();
  const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  const hello = token ? { token } : { demo_meeting: demo || $('demo-room').value, name: $('name').value };
  const sig = new Signaling(wsUrl, hello);
  state.sig = sig;
  const session = new MediaSession(sig);
  state.session = session;
  wire(sig, session);
  sig.connect();
}

function wire(sig, session) {
  let started = false;
  let refusal = null; // an error answering the hello: why the close that follows
  for (const type of LOGGED) {
    sig.addEventListener(type, (e) => {
      const track = typeof e.detail?.track === 'string' ? e.detail.track : undefined;
      state.events.push({ type, detail: e.detail, at: Date.now(), ...(track ? { track } : {}) });
    });
  }
  // Every message that changes the meeting goes through the model first;
  // then the page redraws, or does what else the message asks.
  const after = {
    welcome: async (w) => {
      $('meeting-title').textContent = w.meeting.title;
      show('meeting');
      render();
      stopRetrying();
      retry.count = 0;
      session.iceServers = Array.isArray(w.ice_servers) ? w.ice_servers : [];
      session.videoCodec = w.video_codec === 'h264' ? 'video/H264' : null; // before the first offer
      if (!started || !w.resumed) {
        started = true;
        state.viewReady = false; // until the server has the new media session
        const publish = w.you.role === 'observer' ? new MediaStream() : state.local;
        await session.start(publish);
        if (state.audioOnly) {
          sig.send(msg.mute({ video: true }));
          sig.send(msg.receive(false));
        }
      }
      // A new media session, or a resumed one: say what every tile shows.
      state.viewReady = true;
      resendView();
    },
    track_ended: (m) => { state.media.delete(m.track); render(); },
    meeting_state: (m) => { session.setVideoCodec(m.video_codec); render(); },
    chat: (m) => addChat(m),
  };
  for (const type of STATE_MESSAGES) {
    sig.addEventListener(type, (e) => {
      state.model = applyMessage(state.model, e.detail);
      (after[type] || render)(e.detail);
    });
  }
  wireConsole(state, render);
  sig.addEventListener('state', (e) => {
    const { state: s, code, reason } = e.detail;
    $('banner').hidden = s !== 'reconnecting';
    $('banner').textContent = t('reconnecting');
    if (s === 'connecting') refusal = null; // a new hello (a retry)
    if (s === 'closed') {
      session.close();
      state.viewReady = false;
      $('link-warning').hidden = true;
      // The link in use: maybe by this PC before a crash; tried again a while.
      const inUse = code === 1008 && refusal?.code === 'link_in_use';
      if (inUse && retryLater(sig)) return;
      stopRetrying();
      state.local?.getTracks().forEach((tr) => tr.stop());
      if (inUse) return gaveUp(sig);
      // Any other refusal is final (no retry): say why, in the user's words.
      const refused = code === 1008 && refusal ? refusalKey(refusal.code, refusal.message) : null;
      const why = refused ? t(refused) : { 1000: t('left'), 4002: t('endedByChair'), 4003: t('removedText') }[code];
      endedScreen(why || `${t('ended')} ${reason || ''}`, null, t('rejoin'), () => location.reload());
    }
  });
  sig.addEventListener('error', (e) => {
    console.warn('huiyi:', e.detail.code, e.detail.message);
    if (sig.state !== 'open') refusal = e.detail; // before the welcome: the hello's answer
  });
  sig.addEventListener('welcome', () => { refusal = null; });
  // Someone tried to join with this page's link while we are in: the link
  // may have leaked. A warning that stays until dismissed, nothing blocked.
  sig.addEventListener('link_reused', () => {
    console.warn('huiyi: a second use of this link was refused');
    $('link-warning').hidden = false;
  });
  session.addEventListener('track', (e) => {
    const { trackId, track, stream } = e.detail;
    if (!trackId) return;
    const before = state.media.get(trackId);
    state.media.set(trackId, { track, stream });
    // A new media track in place of a paused one flows (a first one may
    // well arrive paused: its pause stays).
    if (before && before.track !== track) state.model = videoArrived(state.model, trackId);
    render();
  });
  // Simulcast layers nobody receives: stop encoding them (and start again).
  sig.addEventListener('layers', (e) => session.setActiveLayers(e.detail.mid, e.detail.active || []));
  session.addEventListener('quality', () => render());
  // The media path: retrying says so; given up, says which ports are
  // blocked, with a button to try again. Never an error page.
  session.addEventListener('path', (e) => {
    const { state: s, attempt, ports } = e.detail;
    $('media-warning').hidden = s === 'connected';
    $('media-retry').hidden = s !== 'failed';
    $('media-warning-text').textContent = s === 'failed'
      ? t('mediaFailed', { ports: ports?.length ? ports.join('、') : 'UDP' })
      : t('mediaRetrying', { n: attempt });
  });
  $('media-retry').onclick = () => { $('media-retry').hidden = true; session.retry(); };
  // A new media session at the server: the old one's pauses are gone with it.
  session.addEventListener('restarted', () => { state.model = withoutPauses(state.model); render(); resendView(); });
}

// ---------- a link in use: tried again ----------

/// The retries of a join refused with link_in_use (model.js nextJoinRetry).
const retry = { count: 0, timer: null, tick: null };

function stopRetrying() {
  clearTimeout(retry.timer);
  clearInterval(retry.tick);
  retry.timer = null;
  retry.tick = null;
}

/// The ended screen: `text`, `note` under it (null: none) and the button.
function endedScreen(text, note, button, onclick) {
  $('ended-text').textContent = text;
  $('ended-retry').hidden = note === null;
  $('ended-retry').textContent = note ?? '';
  $('rejoin').textContent = button;
  $('rejoin').disabled = false;
  $('rejoin').onclick = onclick;
  show('ended');
}

/// The hello was refused with link_in_use: say so and try again in a
/// while, with a countdown (camera and microphone kept). False when the
/// retries are over.
function retryLater(sig) {
  stopRetrying();
  const wait = nextJoinRetry(retry.count);
  if (wait === null) return false;
  const at = Date.now() + wait;
  endedScreen(t('linkInUse'), '', t('retryNow'), () => retryNow(sig));
  const countdown = () => { $('ended-retry').textContent = t('retryIn', { n: secondsUntil(at, Date.now()) }); };
  countdown();
  retry.tick = setInterval(countdown, 1000);
  retry.timer = setTimeout(() => retryNow(sig), wait);
  return true;
}

/// The retries are over: say so; the button starts them again.
function gaveUp(sig) {
  const minutes = LINK_IN_USE_RETRY.forMs / 60_000;
  endedScreen(t('linkInUse'), t('retryGaveUp', { minutes }), t('retry'), () => { retry.count = 0; retryNow(sig); });
}

/// One more hello (the same signaling and media session objects: nothing
/// was started). Camera and microphone released on giving up are opened again.
async function retryNow(sig) {
  stopRetrying();
  retry.count++;
  $('ended-retry').textContent = t('retrying');
  $('rejoin').disabled = true;
  if (!state.local || state.local.getTracks().some((tr) => tr.readyState === 'ended')) {
    await preview().catch((e) => console.warn('huiyi: preview failed', e));
    stopMeter();
    state.local = previewed();
  }
  sig.connect();
}

// ---------- rendering ----------

function tileFor(key) {
  let tile = byData('tile', key);
  if (!tile) {
    const video = h('video', { autoplay: true, playsinline: true, muted: true });
    tile = h('div', { class: 'tile no-frame', dataset: { tile: key } },
      video,
      h('span', { class: 'weak-badge' }),
      h('div', { class: 'label' }, h('span', { class: 'mic' }), h('span', { class: 'name' }), h('span', { class: 'quality' })));
    // Whether the video has a picture yet: a paused video without one shows the name.
    const frame = () => tile.classList.toggle('no-frame', !(video.videoWidth > 0));
    for (const ev of ['resize', 'loadeddata', 'emptied']) video.addEventListener(ev, frame);
    $('stage').append(tile);
    observeTile(tile);
  }
  return tile;
}

function render() {
  const m = state.model;
  const seen = new Set();
  const myId = m.me;
  for (const p of m.participants.values()) {
    const key = `p:${p.id}`;
    seen.add(key);
    const tile = tileFor(key);
    const mine = p.id === myId;
    const cam = mine ? null : cameraOf(m, p.id);
    const video = tile.querySelector('video');
    const stream = mine ? state.local : state.media.get(cam?.track)?.stream;
    setTrack(tile, cam?.track);
    const wantVideo = !state.audioOnly || mine;
    if (wantVideo && stream && video.srcObject !== stream) video.srcObject = stream;
    if (!wantVideo && video.srcObject) video.srcObject = null;
    tile.classList.toggle('no-video', p.video_muted || !stream || !wantVideo);
    weakBadge(tile, !mine && wantVideo && !p.video_muted && videoPaused(m, cam?.track), p.name);
    tile.classList.toggle('speaking', m.speaker === p.id);
    tile.classList.toggle('offline', !p.connected);
    tile.dataset.participant = p.id;
    tile.querySelector('.name').textContent = `${p.name}${mine ? `（${t('you')}）` : ''} · ${label('roles', p.role)}`;
    tile.querySelector('.mic').textContent = p.audio_muted ? '🔇' : '🎤';
    tile.querySelector('.mic').title = p.audio_muted ? t('muted') : '';
    const q = p.quality ?? 3;
    tile.querySelector('.quality').textContent = '▂▄▆█'.slice(0, q + 1);
    const path = mine && state.session?.path ? ` · ${label('mediaPath', state.session.path)}` : '';
    tile.querySelector('.quality').title = p.connected ? `${label('quality', q)}${path}` : t('offline');
    tile.querySelector('.quality').dataset.path = mine ? state.session?.path ?? '' : '';
  }
  for (const [trackId, info] of screenShares(m)) {
    const key = `s:${trackId}`;
    seen.add(key);
    const tile = tileFor(key);
    tile.classList.add('screen');
    tile.dataset.participant = info.participant;
    setTrack(tile, info.participant === myId ? null : trackId);
    const media = state.media.get(trackId);
    const video = tile.querySelector('video');
    if (media && video.srcObject !== media.stream) video.srcObject = new MediaStream([media.track]);
    tile.querySelector('.name').textContent = t('screenOf', { name: nameOf(m, info.participant) });
    weakBadge(tile, info.participant !== myId && !state.audioOnly && videoPaused(m, trackId), t('screenOf', { name: nameOf(m, info.participant) }));
  }
  for (const tile of [...$('stage').children]) {
    if (!seen.has(tile.dataset.tile)) { unobserveTile(tile); tile.remove(); }
  }
  // Remote audio: one element per audio track.
  const audioSeen = new Set();
  for (const [trackId, media] of state.media) {
    if (media.track.kind !== 'audio') continue;
    audioSeen.add(trackId);
    if (!byData('track', trackId, { tag: 'audio' })) {
      const el = h('audio', { autoplay: true, dataset: { track: trackId } });
      el.srcObject = new MediaStream([media.track]);
      $('audio-sink').append(el);
    }
  }
  for (const el of [...$('audio-sink').children]) if (!audioSeen.has(el.dataset.track)) el.remove();
  layout();
  renderList();
  renderControls();
  renderNotices(state);
  renderConsole(state);
  scheduleView();
}

/// A video the server paused for my link keeps its last picture (or, before
/// any, the name) under a 网络较差 badge; it comes back by itself.
function weakBadge(tile, paused, name) {
  tile.classList.toggle('weak', !!paused);
  tile.dataset.name = name;
  const badge = tile.querySelector('.weak-badge');
  badge.textContent = paused ? t('weakNetwork') : '';
  badge.title = paused ? t('videoPausedTip') : '';
  tile.title = paused ? t('videoPausedTip') : '';
}

// ---------- what my tiles show (view) ----------
// Each received video's tile is measured (ResizeObserver) and watched
// (IntersectionObserver); the server is told, in `view` messages, only what
// changes its layer bucket or visibility (model.js viewUpdate), 300 ms
// after a change settles (1 s at most). Without the observers (an old
// browser) nothing is said and the server sends every video at its best.

const measured = new WeakMap(); // tile → {cssHeight, onScreen}
const VIEW_DEBOUNCE_MS = 300;
const VIEW_MAX_WAIT_MS = 1000;
let viewTimer = null;
let viewFirstAsked = 0;

const measure = (tile, part) => { measured.set(tile, { ...measured.get(tile), ...part }); scheduleView(); };
const resizeObserver = globalThis.ResizeObserver
  && new ResizeObserver((entries) => { for (const e of entries) measure(e.target, { cssHeight: e.contentRect.height }); });
const intersectionObserver = globalThis.IntersectionObserver
  && new IntersectionObserver((entries) => { for (const e of entries) measure(e.target, { onScreen: e.isIntersecting }); });

function observeTile(tile) {
  resizeObserver?.observe(tile);
  intersectionObserver?.observe(tile);
}

function unobserveTile(tile) {
  resizeObserver?.unobserve(tile);
  intersectionObserver?.unobserve(tile);
  measured.delete(tile);
}

/// The received video a tile shows (data-track), or none (mine, no camera).
function setTrack(tile, trackId) {
  if (trackId) tile.dataset.track = trackId;
  else delete tile.dataset.track;
}

/// Each received video → what to say of it now (model.js tileView).
function currentViews() {
  const m = state.model;
  const page = { hidden: document.visibilityState === 'hidden', audioOnly: state.audioOnly, dpr: globalThis.devicePixelRatio || 1 };
  const views = new Map();
  for (const trackId of receivedVideos(m)) {
    const tile = byData('track', trackId, { root: $('stage') });
    const info = m.tracks.get(trackId);
    const videoOff = info.source === 'camera' && !!m.participants.get(info.participant)?.video_muted;
    views.set(trackId, tile ? tileView({ ...measured.get(tile), hidden: tile.hidden, videoOff }, page) : tileView(null, page));
  }
  return views;
}

/// Sends what changed, once the changes settle.
function scheduleView() {
  if (!resizeObserver || !intersectionObserver) return;
  const now = Date.now();
  if (!viewTimer) viewFirstAsked = now;
  clearTimeout(viewTimer);
  const wait = Math.max(0, Math.min(VIEW_DEBOUNCE_MS, viewFirstAsked + VIEW_MAX_WAIT_MS - now));
  viewTimer = setTimeout(sendView, wait);
}

function sendView() {
  clearTimeout(viewTimer);
  viewTimer = null;
  // Before the server has my media session it drops `view`: wait for it.
  if (!state.viewReady || !state.sig) return;
  const { tiles, sent } = viewUpdate(state.viewSent, currentViews());
  state.viewSent = sent;
  for (const m of viewMessages(tiles)) state.sig.send(m);
}

/// A new or resumed media session: say everything again.
function resendView() {
  state.viewSent = new Map();
  scheduleView();
}

document.addEventListener('visibilitychange', scheduleView);
window.addEventListener('resize', scheduleView); // a zoom or another screen changes devicePixelRatio

function layout() {
  const m = state.model;
  const ms = m.meetingState || {};
  const stage = $('stage');
  const pushed = ms.layout && ms.layout !== 'auto' ? ms.layout : null;
  const view = pushed ? (pushed.startsWith('1') ? 'speaker' : 'grid') : state.view;
  stage.className = `stage ${view}`;
  const tiles = [...stage.children];
  // Broadcast mode: a sub-venue shows what is broadcast (and itself).
  const onAir = onAirFor(m);
  const visible = tiles.filter((x) => !onAir || onAir.has(x.dataset.participant) || x.dataset.participant === m.me);
  const pick = (id) => id && visible.find((x) => x.dataset.participant === id && !x.classList.contains('screen'));
  const focus = (isHost(m) && pick(state.cycleFocus)) || visible.find((x) => x.classList.contains('screen')) || pick(ms.spotlight) || pick(ms.floor)
    || (onAir && pick([...onAir][0])) || pick(m.speaker) || visible[0];
  const max = { '1': 1, '1+5': 6, '2x2': 4, '3x3': 9, '4x4': 16 }[pushed] || Infinity;
  const shown = [focus, ...visible.filter((x) => x !== focus)].filter(Boolean).slice(0, max);
  for (const tile of tiles) {
    tile.hidden = !shown.includes(tile);
    tile.classList.toggle('focus', view === 'speaker' && tile === focus);
  }
  const cols = { '2x2': 2, '3x3': 3, '4x4': 4 }[pushed] || Math.ceil(Math.sqrt(Math.max(1, shown.length)));
  stage.style.setProperty('--cols', String(cols));
}

function renderList() {
  const m = state.model;
  $('participant-count').textContent = String(m.participants.size);
  $('participant-list').replaceChildren(...[...m.participants.values()].map((p) => h('li', { class: m.speaker === p.id ? 'speaking' : null },
    `${p.audio_muted ? '🔇' : '🎤'} ${p.name} · ${label('roles', p.role)}${p.connected ? '' : ` (${t('offline')})`}`)));
}

function renderControls() {
  const me = myself(state.model);
  if (!me) return;
  $('btn-mic').textContent = me.audio_muted ? t('unmute') : t('mute');
  $('btn-mic').classList.toggle('off', me.audio_muted);
  $('btn-cam').textContent = me.video_muted ? t('cameraOn') : t('cameraOff');
  $('btn-cam').classList.toggle('off', me.video_muted);
  $('btn-share').textContent = state.session?.screen ? t('stopShare') : t('share');
  $('btn-view').textContent = state.view === 'grid' ? t('speaker') : t('grid');
  $('btn-audio-only').classList.toggle('on', state.audioOnly);
  $('btn-sign-in').textContent = me.signed_in ? t('signedIn') : t('signIn');
  $('btn-sign-in').disabled = !!me.signed_in;
  $('btn-sign-in').classList.toggle('on', !!me.signed_in);
  const observer = me.role === 'observer';
  for (const id of ['btn-mic', 'btn-cam', 'btn-share']) $(id).disabled = observer;
}

function addChat(m) {
  const time = new Date(m.at).toLocaleTimeString(langTag(), { hour: '2-digit', minute: '2-digit' });
  $('chat-list').append(h('li', {}, h('b', {}, m.name), ' ', h('time', {}, time), h('div', {}, m.text)));
  $('chat-list').scrollTop = $('chat-list').scrollHeight;
  if ($('side').hidden || $('side').dataset.tab !== 'chat') {
    state.chatUnread++;
    $('chat-badge').textContent = String(state.chatUnread);
    $('chat-badge').hidden = false;
  }
}

function openSide(tab) {
  const side = $('side');
  side.hidden = !side.hidden && side.dataset.tab === tab;
  side.dataset.tab = tab;
  $('participants-pane').hidden = tab !== 'participants';
  $('chat-pane').hidden = tab !== 'chat';
  $('console-pane').hidden = tab !== 'console';
  if (tab === 'console') renderConsole(state);
  if (tab === 'chat' && !side.hidden) { state.chatUnread = 0; $('chat-badge').hidden = true; }
}

// ---------- controls ----------

function setMuted(kind, muted) {
  const tracks = kind === 'audio' ? state.local.getAudioTracks() : state.local.getVideoTracks();
  for (const tr of tracks) tr.enabled = !muted;
  state.sig.send(msg.mute({ [kind]: muted }));
}

$('btn-mic').onclick = () => setMuted('audio', !myself(state.model).audio_muted);
$('btn-cam').onclick = () => setMuted('video', !myself(state.model).video_muted);
$('btn-share').onclick = async () => {
  if (state.session.screen) await state.session.removeScreen();
  else {
    const s = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false }).catch(() => null);
    if (s) await state.session.addScreen(s);
  }
  renderControls();
};
$('btn-view').onclick = () => { state.view = state.view === 'grid' ? 'speaker' : 'grid'; render(); };
$('btn-audio-only').onclick = () => {
  // Audio only: my camera stops and the server stops sending me video.
  state.audioOnly = !state.audioOnly;
  setMuted('video', state.audioOnly);
  state.sig.send(msg.receive(!state.audioOnly));
  render();
};
$('btn-people').onclick = () => openSide('participants');
$('btn-sign-in').onclick = () => state.sig.send(msg.signIn());
$('btn-console').onclick = () => openSide('console');
$('side-close').onclick = () => { $('side').hidden = true; };
$('link-warning-close').onclick = () => { $('link-warning').hidden = true; };
$('btn-chat').onclick = () => openSide('chat');
$('btn-leave').onclick = () => state.sig.leave();
$('chat-form').onsubmit = (e) => {
  e.preventDefault();
  const text = $('chat-input').value.trim();
  if (text) state.sig.send(msg.chat(text));
  $('chat-input').value = '';
};
$('rejoin').onclick = () => location.reload();
for (const el of document.querySelectorAll('.lang')) el.onclick = () => { toggleLang(); applyStrings(); render(); };

// ---------- start ----------

async function main() {
  applyStrings();
  show('prejoin');
  const claims = token ? tokenClaims(token) : null;
  if (claims) {
    $('name').value = claims.n;
    $('name').readOnly = true;
    $('prejoin-title').textContent = claims.t;
  } else if (demo !== null) {
    $('demo-row').hidden = false;
    $('demo-room').value = demo;
  } else {
    $('prejoin-error').textContent = t('noToken');
    $('prejoin-error').hidden = false;
    $('join').disabled = true;
  }
  if (params.get('audio') === '0') $('audio-only').checked = true;
  $('camera-select').onchange = preview;
  $('mic-select').onchange = preview;
  $('audio-only').onchange = preview;
  $('join').onclick = join;
  if (!claims && demo === null) return;
  prejoinCheck(token ? { token } : { demo: true });
  $('join').disabled = true;
  await preview().catch((e) => console.warn('huiyi: preview failed', e));
  $('join').disabled = false;
  if (kiosk) {
    document.body.classList.add('kiosk');
    document.documentElement.requestFullscreen?.().catch(() => {});
    state.view = 'speaker';
    await join();
  }
}

main();
