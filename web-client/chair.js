// Chair control in the page: the chair console (for the chair and the
// secretary) and what every participant is told (muted by the chair, your
// turn to speak, broadcast in progress, the speaking queue). What the
// meeting is comes from the model (state.model, model.js); what is sent is
// built there too (msg.*).

import {
  msg, myself, nameOf, isHost, handRaised, haveFloor, floorSecondsLeft, activeRollCall, beingCalled, rollCallOrder,
} from './model.js';
import { t, label } from './i18n.js';
import { $, h, downloadCsv } from './dom.js';

const button = (text, onclick, cls = '') => h('button', { type: 'button', class: cls, onclick }, text);

/// The notice strip under the top bar.
export function renderNotices(state) {
  const m = state.model;
  const ms = m.meetingState || {};
  const me = myself(m);
  const notes = [];
  if (haveFloor(m)) {
    let s = t('yourTurn');
    const left = floorSecondsLeft(m, Date.now());
    if (left !== null) {
      s += ` · ${t('secondsLeft', { n: left })}`;
      if (left <= 10) notes.push({ text: t('timeAlmostUp'), cls: 'warn' });
    }
    notes.unshift({ text: s, cls: 'ok' });
  } else if (ms.floor) {
    notes.push({ text: t('speaking', { name: nameOf(m, ms.floor) }), cls: '' });
  }
  if (me?.audio_muted && ms.mics_locked && !isHost(m)) notes.push({ text: t('mutedByChair'), cls: 'warn' });
  if (ms.broadcast) notes.push({ text: t('broadcasting'), cls: '' });
  const rc = activeRollCall(m);
  if (rc?.current) {
    notes.push({ text: t('calling', { name: nameOf(m, rc.current, rc.current) }), cls: rc.current === m.me ? 'ok' : '' });
  }
  $('roll-dialog').hidden = !beingCalled(m);
  if (ms.locked) notes.push({ text: t('meetingLocked'), cls: '' });
  // Everyone is told that the meeting is recorded: the badge stays, the
  // notice for the first 15 s.
  $('rec-badge').hidden = !ms.recording_since;
  if (ms.recording_since && Date.now() - ms.recording_since < 15_000) notes.push({ text: t('recordingStarted'), cls: 'warn' });
  $('live-badge').hidden = !ms.live_since;
  if (ms.live_since && Date.now() - ms.live_since < 15_000) notes.push({ text: t('liveStarted'), cls: 'warn' });
  const box = $('notices');
  box.replaceChildren(...notes.map((n) => h('span', { class: n.cls }, n.text)));
  box.hidden = notes.length === 0;
  const raised = handRaised(m);
  $('btn-hand').textContent = raised ? t('lowerHand') : t('raiseHand');
  $('btn-hand').classList.toggle('on', raised);
  $('btn-hand').hidden = me?.role === 'observer';
  $('btn-console').hidden = !isHost(m);
}

/// The chair console (side pane).
export function renderConsole(state) {
  const m = state.model;
  if (!isHost(m)) return;
  const ms = m.meetingState || {};
  const send = (message) => state.sig.send(message);
  const seconds = () => Number($('speech-seconds').value) || null;
  $('console-hands').replaceChildren(...(ms.hands || []).map((id) => h('li', {},
    `✋ ${nameOf(m, id, id)} `,
    button(t('grant'), () => send(msg.grantFloor(id, seconds())), 'small on'),
    button(t('decline'), () => send(msg.declineHand(id)), 'small'))));
  $('console-floor').textContent = ms.floor ? t('speaking', { name: nameOf(m, ms.floor) }) : '';
  $('btn-end-speech').hidden = !ms.floor;
  $('console-list').replaceChildren(...[...m.participants.values()].filter((p) => p.id !== m.me).map((p) => {
    const spotlit = ms.spotlight === p.id;
    return h('li', { dataset: { participant: p.id } },
      `${p.audio_muted ? '🔇' : '🎤'} ${p.name} · ${label('roles', p.role)} `,
      button(p.audio_muted ? t('unmute') : t('mute'), () => send(msg.muteParticipant(p.id, !p.audio_muted)), 'small'),
      button(t('grant'), () => send(msg.grantFloor(p.id, seconds())), 'small'),
      button(t('broadcastThis'), () => send(msg.broadcast([p.id])), 'small'),
      button(spotlit ? t('unspotlight') : t('spotlight'), () => send(msg.spotlight(spotlit ? null : p.id)), spotlit ? 'small on' : 'small'),
      button(t('remove'), () => { if (confirm(t('confirmRemove', { name: p.name }))) send(msg.removeParticipant(p.id, true)); }, 'small danger'));
  }));
  const rc = ms.roll_call;
  const active = !!activeRollCall(m);
  $('btn-roll-start').hidden = active;
  $('btn-roll-auto').hidden = active;
  $('btn-roll-next').hidden = !active;
  $('btn-roll-stop').hidden = !active;
  $('btn-roll-export').hidden = !rc;
  $('roll-list').replaceChildren(...(rc?.entries || []).map((e) => h('li', { dataset: { participant: e.participant, status: e.status } },
    `${e.name} · ${label('rollStatus', e.status)} `,
    active && e.status !== 'answered' ? button(t('call'), () => send(msg.rollCallCall(e.participant)), 'small') : null)));
  $('btn-lock').textContent = ms.locked ? t('unlockMeeting') : t('lockMeeting');
  $('btn-record').textContent = ms.recording_since ? t('stopRecording') : t('startRecording');
  $('btn-record').classList.toggle('on', !!ms.recording_since);
  $('btn-live').textContent = ms.live_since ? t('stopLive') : t('startLive');
  $('btn-live').classList.toggle('on', !!ms.live_since);
  $('btn-broadcast-me').hidden = !!ms.broadcast;
  $('btn-broadcast-off').hidden = !ms.broadcast;
  $('btn-unlock-mics').hidden = !ms.mics_locked;
  $('layout-select').value = ms.layout || 'auto';
}

/// Wires the console's buttons, the hand, the roll-call and unmute dialogs.
/// `rerender` draws the page again (the model is kept up to date by app.js).
export function wireConsole(state, rerender) {
  const send = (message) => state.sig.send(message);
  $('btn-mute-all').onclick = () => send(msg.muteAll(true));
  $('btn-unlock-mics').onclick = () => send(msg.unlockMics());
  $('btn-lower-all').onclick = () => send(msg.lowerAllHands());
  $('btn-end-speech').onclick = () => send(msg.endSpeech());
  $('btn-broadcast-me').onclick = () => send(msg.broadcast([state.model.me]));
  $('btn-broadcast-off').onclick = () => send(msg.broadcast(null));
  $('btn-lock').onclick = () => send(msg.lockMeeting(!state.model.meetingState?.locked));
  $('btn-record').onclick = () => send(msg.record(!state.model.meetingState?.recording_since));
  $('btn-live').onclick = () => send(msg.live(!state.model.meetingState?.live_since));
  $('btn-end-meeting').onclick = () => { if (confirm(t('confirmEnd'))) send(msg.endMeeting()); };
  $('layout-select').onchange = () => send(msg.layout($('layout-select').value));
  $('btn-roll-start').onclick = () => send(msg.rollCallStart(rollCallOrder(state.model)));
  $('btn-roll-auto').onclick = () => send(msg.rollCallStart(rollCallOrder(state.model), { auto: true }));
  $('btn-roll-next').onclick = () => send(msg.rollCallNext());
  $('btn-roll-stop').onclick = () => send(msg.rollCallStop());
  $('btn-roll-export').onclick = () => exportRollCall(state);
  $('roll-answer').onclick = () => send(msg.rollCallAnswer());
  // 循环观看: the chair's own screen shows the venues one after another.
  let cycleTimer = null;
  $('cycle-toggle').onchange = () => {
    clearInterval(cycleTimer);
    state.cycleFocus = null;
    if ($('cycle-toggle').checked) {
      let i = 0;
      const step = () => {
        const others = [...state.model.participants.values()].filter((p) => p.id !== state.model.me);
        state.cycleFocus = others.length ? others[i++ % others.length].id : null;
        state.view = 'speaker';
        rerender();
      };
      step();
      cycleTimer = setInterval(step, Math.max(3, Number($('cycle-seconds').value) || 10) * 1000);
    }
    rerender();
  };
  $('btn-hand').onclick = () => send(handRaised(state.model) ? msg.lowerHand() : msg.raiseHand());
  state.sig.addEventListener('unmute_request', (e) => {
    $('unmute-text').textContent = t('unmuteAsked', { name: nameOf(state.model, e.detail.by) });
    $('unmute-dialog').hidden = false;
  });
  $('unmute-accept').onclick = () => {
    $('unmute-dialog').hidden = true;
    for (const tr of state.local.getAudioTracks()) tr.enabled = true;
    send(msg.mute({ audio: false }));
  };
  $('unmute-decline').onclick = () => { $('unmute-dialog').hidden = true; };
  // The speaking timer counts down on screen.
  // (And the recording notice goes after its 15 s.)
  setInterval(() => {
    const ms = state.model.meetingState;
    if (ms?.floor_ends_at || (ms?.recording_since && Date.now() - ms.recording_since < 17_000) || (ms?.live_since && Date.now() - ms.live_since < 17_000)) renderNotices(state);
  }, 1000);
}

/// Downloads the roll call as CSV (Excel opens it; BOM for Chinese).
function exportRollCall(state) {
  const rc = state.model.meetingState?.roll_call;
  if (!rc) return;
  const time = (ms) => (ms ? new Date(ms).toLocaleString('zh-CN') : '');
  const rows = [['会场/参会人', '状态', '点名时间', '应答时间']].concat(rc.entries.map((e) => [
    e.name, label('rollStatus', e.status), time(e.called_at), time(e.answered_at)]));
  downloadCsv(`点名记录-${state.model.meeting?.title || ''}.csv`, rows);
}
