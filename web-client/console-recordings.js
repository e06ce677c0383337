// A meeting's recordings in the console (issue 16): start and stop while
// the meeting runs, each recording's state, length and size, composition
// with its progress, play the composite in the page, download it and the
// raw track files, delete (secretary, admin). Who may see them is the
// server's decision: a refusal hides the panel.

import { $, h } from './dom.js';
import { ask, flash, unixLabel } from './console-util.js';
import { explain, get, request } from './console-api.js';
import { t, label } from './i18n.js';

const size = (bytes) => (bytes >= 1 << 30 ? `${(bytes / (1 << 30)).toFixed(1)} GB`
  : bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`);
const length = (ms) => {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};

/// Why starting or stopping a recording or the live feed failed: a meeting
/// open but with nobody in it yet is not running (the server's 409).
const switchFailed = (e) => (e.code === 'not_running' ? explain(e, t('notRunningYet')) : e.message || t('recFailed'));

/// Loads the list (again) for meeting view `view`; `live`: the meeting runs.
/// While a recording composes the list is loaded again every 2 s (one
/// timer per view, gone when another view is shown).
export async function loadRecordings(view, live) {
  clearTimeout(view.recTimer);
  let data;
  try {
    data = await get(`${view.base}/recordings`);
  } catch {
    $('d-recordings').hidden = true;
    return;
  }
  $('d-recordings').hidden = false;
  const list = data.recordings || [];
  const running = list.some((r) => r.state === 'recording');
  const toggle = $('rec-toggle');
  toggle.hidden = !live;
  toggle.textContent = running ? t('stopRecording') : t('startRecording');
  toggle.onclick = async () => {
    try {
      await request(`${view.base}/recording`, { method: 'POST', json: { on: !running } });
      flash(running ? t('recordingStopping') : t('recordingStarting'));
      setTimeout(() => loadRecordings(view, live), 1500);
    } catch (e) {
      flash(switchFailed(e), 'error');
    }
  };
  $('rec-none').hidden = list.length > 0;
  $('rec-list').replaceChildren(...list.map((r) => item(view, r, live)));
  if (list.some((r) => r.composite?.state === 'composing') && !view.stopped) {
    view.recTimer = setTimeout(() => loadRecordings(view, live), 2000);
  }
}

function item(view, r, live) {
  const files = `/api/v1/recordings/${encodeURIComponent(r.id)}/files`;
  const c = r.composite;
  const line = [unixLabel(Math.floor(r.started_at / 1000)), length(r.duration_ms), size(r.bytes), label('recState', r.state)];
  const buttons = [];
  if (r.state !== 'recording') {
    if (c?.state === 'composing') {
      buttons.push(h('span', { class: 'muted' }, t('composing', { pct: Math.round((c.progress || 0) * 100) })));
    } else if (c?.state === 'ready') {
      buttons.push(h('button', { type: 'button', class: 'small', onclick: () => play(`${files}/composite.mp4`) }, t('play')));
      buttons.push(h('a', { class: 'button small', href: `${files}/composite.mp4`, download: `${r.title}-${r.id}.mp4` }, t('downloadComposite')));
    } else {
      buttons.push(h('button', { type: 'button', class: 'small', onclick: () => compose(view, r, live) }, t('compose')));
      if (c?.state === 'failed') buttons.push(h('small', { class: 'error' }, `${t('composeFailed')}: ${c.error || ''}`));
    }
    buttons.push(h('button', { type: 'button', class: 'small danger-outline', onclick: () => remove(view, r, live) }, t('delete')));
  }
  const raw = h('details', {}, h('summary', {}, t('rawFiles', { n: r.tracks.length })),
    h('ul', {}, ...r.tracks.map((tr) => h('li', {},
      h('a', { href: `${files}/${encodeURIComponent(tr.file)}`, download: tr.file }, tr.file),
      ` ${tr.name || tr.participant} · ${label('recSource', tr.source)} · ${size(tr.bytes)}`))));
  return h('li', { dataset: { recording: r.id, state: r.state } }, h('span', {}, line.join(' · ')), ...buttons, raw);
}

function play(src) {
  const player = $('rec-player');
  player.src = src;
  player.hidden = false;
  player.play().catch(() => {});
}

async function compose(view, r, live) {
  try {
    await request(`/api/v1/recordings/${encodeURIComponent(r.id)}/compose`, { method: 'POST' });
    flash(t('composeStarted'));
  } catch (e) {
    flash(e.message || t('recFailed'), 'error');
  }
  loadRecordings(view, live);
}

async function remove(view, r, live) {
  if (!(await ask(t('confirmDeleteRecording'), { ok: t('delete'), danger: true }))) return;
  try {
    await request(`/api/v1/recordings/${encodeURIComponent(r.id)}`, { method: 'DELETE' });
    flash(t('recordingDeleted'));
  } catch (e) {
    flash(e.message || t('recFailed'), 'error');
  }
  loadRecordings(view, live);
}

/// The live-feed panel (issue 16): start and stop while the meeting runs,
/// and the viewer links (signed, expiring) to hand to the portal. Hidden
/// when the server refuses (no permission, no live feed).
export async function loadLive(view, live) {
  let data;
  try {
    data = await get(`${view.base}/live`);
  } catch {
    $('d-onair').hidden = true;
    return;
  }
  $('d-onair').hidden = false;
  const toggle = $('onair-toggle');
  toggle.hidden = !live;
  toggle.textContent = data.on ? t('stopLive') : t('startLive');
  toggle.onclick = async () => {
    try {
      await request(`${view.base}/live`, { method: 'POST', json: { on: !data.on } });
      flash(data.on ? t('liveStopping') : t('liveStarting'));
      setTimeout(() => loadLive(view, live), 1500);
    } catch (e) {
      flash(switchFailed(e), 'error');
    }
  };
  $('onair-state').textContent = data.on
    ? t('liveOnSince', { at: unixLabel(Math.floor(data.since / 1000)) })
    : t('liveOff', { until: unixLabel(data.expires) });
  const url = `${location.origin}${data.playlist}`;
  $('onair-url').textContent = url;
  $('onair-whep').textContent = url.replace('/live/', '/whep/').replace(/\/index\.m3u8$/, '');
}
