// Chair control in the page: the chair console (for the chair and the
// secretary) and what every participant is told (muted by the chair, your
// turn to speak, broadcast in progress, the speaking queue).

import { t } from './i18n.js';

const $ = (id) => document.getElementById(id);

export function isHost(state) {
  const me = state.participants.get(state.me?.id);
  return !!me && (me.role === 'chair' || me.role === 'secretary' || state.meetingState?.chair === me.id);
}

function control(state, action, fields = {}) {
  state.sig.send({ type: 'control', action, ...fields });
}

function button(label, onclick, cls = '') {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.className = cls;
  b.onclick = onclick;
  return b;
}

/// The notice strip under the top bar.
export function renderNotices(state) {
  const ms = state.meetingState || {};
  const me = state.participants.get(state.me?.id);
  const notes = [];
  if (ms.floor === state.me?.id) {
    let s = t('yourTurn');
    if (ms.floor_ends_at) {
      const left = Math.max(0, Math.round((ms.floor_ends_at - Date.now()) / 1000));
      s += ` · ${t('secondsLeft', { n: left })}`;
      if (left <= 10) notes.push({ text: t('timeAlmostUp'), cls: 'warn' });
    }
    notes.unshift({ text: s, cls: 'ok' });
  } else if (ms.floor) {
    notes.push({ text: t('speaking', { name: state.participants.get(ms.floor)?.name || '' }), cls: '' });
  }
  if (me?.audio_muted && ms.mics_locked && !isHost(state)) notes.push({ text: t('mutedByChair'), cls: 'warn' });
  if (ms.broadcast) notes.push({ text: t('broadcasting'), cls: '' });
  const rc = ms.roll_call;
  if (rc && rc.current && !rc.finished) {
    notes.push({ text: t('calling', { name: state.participants.get(rc.current)?.name || rc.current }), cls: rc.current === state.me?.id ? 'ok' : '' });
  }
  const mine = rc?.entries?.find((e) => e.participant === state.me?.id);
  $('roll-dialog').hidden = !(rc && !rc.finished && rc.current === state.me?.id && mine?.status === 'calling');
  if (ms.locked) notes.push({ text: t('meetingLocked'), cls: '' });
  const box = $('notices');
  box.replaceChildren(...notes.map((n) => { const p = document.createElement('span'); p.textContent = n.text; p.className = n.cls; return p; }));
  box.hidden = notes.length === 0;
  const raised = (ms.hands || []).includes(state.me?.id);
  $('btn-hand').textContent = raised ? t('lowerHand') : t('raiseHand');
  $('btn-hand').classList.toggle('on', raised);
  $('btn-hand').hidden = me?.role === 'observer';
  $('btn-console').hidden = !isHost(state);
}

/// The chair console (side pane).
export function renderConsole(state) {
  if (!isHost(state)) return;
  const ms = state.meetingState || {};
  const hands = $('console-hands');
  hands.replaceChildren(...(ms.hands || []).map((id) => {
    const li = document.createElement('li');
    li.append(`✋ ${state.participants.get(id)?.name || id} `);
    li.append(button(t('grant'), () => control(state, 'grant_floor', { participant: id, seconds: Number($('speech-seconds').value) || null }), 'small on'));
    li.append(button(t('decline'), () => control(state, 'decline_hand', { participant: id }), 'small'));
    return li;
  }));
  $('console-floor').textContent = ms.floor ? t('speaking', { name: state.participants.get(ms.floor)?.name || '' }) : '';
  $('btn-end-speech').hidden = !ms.floor;
  const list = $('console-list');
  list.replaceChildren(...[...state.participants.values()].filter((p) => p.id !== state.me.id).map((p) => {
    const li = document.createElement('li');
    li.dataset.participant = p.id;
    li.append(`${p.audio_muted ? '🔇' : '🎤'} ${p.name} · ${t('roles')[p.role] || p.role} `);
    li.append(button(p.audio_muted ? t('unmute') : t('mute'), () => control(state, 'mute_participant', { participant: p.id, muted: !p.audio_muted }), 'small'));
    li.append(button(t('grant'), () => control(state, 'grant_floor', { participant: p.id, seconds: Number($('speech-seconds').value) || null }), 'small'));
    li.append(button(t('broadcastThis'), () => control(state, 'broadcast', { participants: [p.id] }), 'small'));
    const spotlit = ms.spotlight === p.id;
    li.append(button(spotlit ? t('unspotlight') : t('spotlight'), () => control(state, 'spotlight', { participant: spotlit ? null : p.id }), spotlit ? 'small on' : 'small'));
    li.append(button(t('remove'), () => { if (confirm(t('confirmRemove', { name: p.name }))) control(state, 'remove_participant', { participant: p.id, bar: true }); }, 'small danger'));
    return li;
  }));
  const rc = ms.roll_call;
  const active = rc && !rc.finished;
  $('btn-roll-start').hidden = active;
  $('btn-roll-auto').hidden = active;
  $('btn-roll-next').hidden = !active;
  $('btn-roll-stop').hidden = !active;
  $('btn-roll-export').hidden = !rc;
  $('roll-list').replaceChildren(...(rc?.entries || []).map((e) => {
    const li = document.createElement('li');
    li.dataset.participant = e.participant;
    li.dataset.status = e.status;
    li.append(`${e.name} · ${t('rollStatus')[e.status] || e.status} `);
    if (active && e.status !== 'answered') li.append(button(t('call'), () => control(state, 'roll_call_call', { participant: e.participant }), 'small'));
    return li;
  }));
  $('btn-lock').textContent = ms.locked ? t('unlockMeeting') : t('lockMeeting');
  $('btn-broadcast-me').hidden = !!ms.broadcast;
  $('btn-broadcast-off').hidden = !ms.broadcast;
  $('btn-unlock-mics').hidden = !ms.mics_locked;
  $('layout-select').value = ms.layout || 'auto';
}

export function wireConsole(state, rerender) {
  $('btn-mute-all').onclick = () => control(state, 'mute_all', { lock: true });
  $('btn-unlock-mics').onclick = () => control(state, 'unlock_mics');
  $('btn-lower-all').onclick = () => control(state, 'lower_all_hands');
  $('btn-end-speech').onclick = () => control(state, 'end_speech');
  $('btn-broadcast-me').onclick = () => control(state, 'broadcast', { participants: [state.me.id] });
  $('btn-broadcast-off').onclick = () => control(state, 'broadcast', { participants: null });
  $('btn-lock').onclick = () => control(state, 'lock_meeting', { locked: !state.meetingState?.locked });
  $('btn-end-meeting').onclick = () => { if (confirm(t('confirmEnd'))) control(state, 'end_meeting'); };
  $('layout-select').onchange = () => control(state, 'layout', { layout: $('layout-select').value });
  const rollList = () => [...state.participants.values()]
    .filter((p) => p.role !== 'observer' && p.role !== 'chair' && p.role !== 'secretary' && p.id !== state.me.id)
    .sort((a, b) => (a.role === 'venue' ? 0 : 1) - (b.role === 'venue' ? 0 : 1) || a.id.localeCompare(b.id))
    .map((p) => p.id);
  $('btn-roll-start').onclick = () => control(state, 'roll_call_start', { participants: rollList() });
  $('btn-roll-auto').onclick = () => control(state, 'roll_call_start', { participants: rollList(), auto: true });
  $('btn-roll-next').onclick = () => control(state, 'roll_call_next');
  $('btn-roll-stop').onclick = () => control(state, 'roll_call_stop');
  $('btn-roll-export').onclick = () => exportRollCall(state);
  $('roll-answer').onclick = () => state.sig.send({ type: 'roll_call_answer' });
  // 循环观看: the chair's own screen shows the venues one after another.
  let cycleTimer = null;
  $('cycle-toggle').onchange = () => {
    clearInterval(cycleTimer);
    state.cycleFocus = null;
    if ($('cycle-toggle').checked) {
      let i = 0;
      const step = () => {
        const others = [...state.participants.values()].filter((p) => p.id !== state.me.id);
        state.cycleFocus = others.length ? others[i++ % others.length].id : null;
        state.view = 'speaker';
        rerender();
      };
      step();
      cycleTimer = setInterval(step, Math.max(3, Number($('cycle-seconds').value) || 10) * 1000);
    }
    rerender();
  };
  $('btn-hand').onclick = () => {
    const raised = (state.meetingState?.hands || []).includes(state.me.id);
    state.sig.send({ type: raised ? 'lower_hand' : 'raise_hand' });
  };
  state.sig.addEventListener('meeting_state', (e) => {
    const { type, ...ms } = e.detail;
    state.meetingState = ms;
    rerender();
  });
  state.sig.addEventListener('unmute_request', (e) => {
    const by = state.participants.get(e.detail.by)?.name || '';
    $('unmute-text').textContent = t('unmuteAsked', { name: by });
    $('unmute-dialog').hidden = false;
  });
  $('unmute-accept').onclick = () => {
    $('unmute-dialog').hidden = true;
    for (const tr of state.local.getAudioTracks()) tr.enabled = true;
    state.sig.send({ type: 'mute', audio: false });
  };
  $('unmute-decline').onclick = () => { $('unmute-dialog').hidden = true; };
  // The speaking timer counts down on screen.
  setInterval(() => { if (state.meetingState?.floor_ends_at) renderNotices(state); }, 1000);
}

/// Downloads the roll call as CSV (Excel opens it; BOM for Chinese).
function exportRollCall(state) {
  const rc = state.meetingState?.roll_call;
  if (!rc) return;
  const time = (ms) => (ms ? new Date(ms).toLocaleString('zh-CN') : '');
  const rows = [['会场/参会人', '状态', '点名时间', '应答时间']].concat(rc.entries.map((e) => [
    e.name, t('rollStatus')[e.status] || e.status, time(e.called_at), time(e.answered_at)]));
  const csv = '\ufeff' + rows.map((r) => r.map((c) => `"${String(c).replace(/"/g, '""')}"`).join(',')).join('\r\n');
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
  a.download = `点名记录-${state.meeting?.title || ''}.csv`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
