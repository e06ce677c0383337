// One meeting: its fields and status, start / end / cancel, the exports,
// the invitations (personal join links, notices, QR codes, a link re-issued
// when it leaked) and, while the meeting is open or running, the live
// attendance polled every 3 s.

import { $, h } from './dom.js';
import { ask, flash, copyButton, countyNow, fromUnix, hm, spanLabel } from './console-util.js';
import { get, post, orgUnits, chairs } from './console-api.js';
import { badge } from './console-calendar.js';
import { t, label } from './i18n.js';
import { loadLive, loadRecordings } from './console-recordings.js';

const POLL_MS = 3000;
/// Statuses in which nothing changes any more, or not yet: no polling.
const QUIET = new Set(['scheduled', 'ended', 'cancelled']);

let current = null; // the meeting view on screen; answers for an older one are dropped

/// Shows meeting `id`. `carry`: what the form hands over after a save
/// (`warnings`, `notice`). Returns a function that stops the polling.
export async function showDetail(id, ctx, carry = {}) {
  const base = `/api/v1/meetings/${encodeURIComponent(id)}`;
  const view = { base, ctx, meeting: null, timer: null, stopped: false };
  current = view;
  $('d-error').hidden = true;
  $('d-main').hidden = true;
  renderNotices(view, carry);
  let error = null;
  try {
    view.meeting = await get(base);
  } catch (e) {
    error = e;
  }
  if (current !== view) return null;
  if (error) {
    $('d-error').textContent = error.message;
    $('d-error').hidden = false;
    return null;
  }
  $('d-main').hidden = false;
  $('d-csv').href = `${base}/attendance.csv`;
  $('d-xlsx').href = `${base}/attendance.xlsx`;
  $('d-ics').href = `${base}/calendar.ics`;
  $('d-edit').href = `#/edit/${encodeURIComponent(id)}`;
  for (const action of ['start', 'end', 'cancel']) $(`d-${action}`).onclick = () => act(view, action);
  $('d-join').onclick = () => joinMyself(view);
  await renderMeeting(view);
  if (ctx.canSchedule) loadInvitations(view);
  poll(view);
  return () => {
    view.stopped = true;
    clearTimeout(view.timer);
    clearTimeout(view.recTimer);
  };
}

/// Conflict warnings (venue or chair double-booked) and other news of the save.
async function renderNotices(view, { warnings = [], notice = '' }) {
  const box = $('d-notices');
  box.replaceChildren();
  if (notice) box.append(h('p', { class: 'alert ok', role: 'status' }, notice));
  if (!warnings.length) return;
  const [units, chairList] = await Promise.all([orgUnits().catch(() => []), chairs().catch(() => [])]);
  if (current !== view) return;
  const nameOf = (w) => (w.as_chair ? chairList.find((c) => c.id === w.who)?.display_name : units.find((u) => u.id === w.who)?.name) ?? w.who;
  box.append(h('div', { class: 'alert warn', role: 'alert', dataset: { testid: 'warnings' } },
    h('strong', {}, t('warningsTitle')),
    h('ul', {}, warnings.map((w) => h('li', {},
      t(w.as_chair ? 'warnChair' : 'warnParticipant', { who: nameOf(w) }), ' ',
      h('a', { href: `#/meeting/${encodeURIComponent(w.meeting)}` }, `「${w.title}」`))))));
}

async function renderMeeting(view) {
  const m = view.meeting;
  const { canSchedule, me } = view.ctx;
  $('d-title').textContent = m.title;
  $('d-status').replaceChildren(badge(m.status) ?? '');
  // Only schedulers may list accounts; anyone else sees a chair's name only if it is their own.
  const [units, chairList] = await Promise.all([orgUnits().catch(() => []), canSchedule ? chairs().catch(() => []) : []]);
  if (current !== view) return;
  const chairName = (id) => (id === me.id ? me.display_name : chairList.find((c) => c.id === id)?.display_name ?? id);
  const chair = m.chair ? chairName(m.chair) : t('none');
  const names = m.participants.map((p) => units.find((u) => u.id === p)?.name ?? p);
  const rows = [
    [t('time'), spanLabel(m)],
    [t('joinWindow'), t('joinWindowText', { n: m.open_before_min })],
    m.record ? [t('recordings'), t('autoRecordOn')] : null,
    m.series ? [t('repeat'), t('inSeries')] : null,
    [t('chair'), chair],
    [t('participants'), t('participantCount', { n: names.length }), names.length ? h('span', { class: 'muted' }, ` · ${names.join('、')}`) : null],
    [t('agenda'), h('div', { class: 'agenda' }, m.agenda || t('none'))],
  ];
  $('d-fields').replaceChildren(...rows.filter(Boolean).flatMap(([label, ...value]) => [h('dt', {}, label), h('dd', {}, ...value)]));
  // Secretaries and admins run every meeting; a chair starts and ends its own.
  const s = m.status;
  const runs = canSchedule || (me.role === 'chair' && m.chair === me.id);
  $('d-actions').hidden = !runs;
  $('d-edit').hidden = !canSchedule || s === 'ended' || s === 'cancelled';
  $('d-join').hidden = !['open', 'in_progress'].includes(s);
  $('d-start').hidden = !['scheduled', 'open'].includes(s);
  $('d-end').hidden = !['open', 'in_progress'].includes(s);
  $('d-cancel').hidden = !canSchedule || !['scheduled', 'open'].includes(s);
}

/// Start, end or cancel (cancel asks first).
async function act(view, action) {
  const { title, series } = view.meeting;
  const question = t(series ? 'confirmCancelOne' : 'confirmCancel', { title });
  if (action === 'cancel' && !await ask(question, { ok: t('cancelMeeting'), danger: true })) return;
  if (action === 'end' && !await ask(t('confirmEnd'), { ok: t('end') })) return;
  const button = $(`d-${action}`);
  button.disabled = true;
  try {
    view.meeting = await post(`${view.base}/${action}`);
    flash(t(`done_${action}`));
    await renderMeeting(view);
    clearTimeout(view.timer);
    poll(view);
  } catch (e) {
    flash(e.message, 'error');
  } finally {
    button.disabled = false;
  }
}

/// Opens the meeting page with the account's own link (as 会务, or as chair).
async function joinMyself(view) {
  const tab = window.open('', '_blank');
  try {
    const { link } = await get(`${view.base}/join`);
    if (tab) tab.location = link;
    else location.assign(link);
  } catch (e) {
    tab?.close();
    flash(e.message, 'error');
  }
}

// ---------- invitations ----------

async function loadInvitations(view) {
  const body = $('inv-table').tBodies[0];
  $('inv-error').hidden = true;
  body.replaceChildren();
  let list;
  try {
    list = await get(`${view.base}/invitations`);
  } catch (e) {
    if (current !== view) return;
    $('inv-error').textContent = e.message;
    $('inv-error').hidden = false;
    return;
  }
  if (current !== view) return;
  $('inv-empty').hidden = list.length > 0;
  body.append(...list.map((inv) => invitationRow(view, inv)));
}

/// One invitation's row; `status` ({text, kind}) says how a re-issue went.
function invitationRow(view, inv, status = null) {
  return h('tr', { dataset: { participant: inv.participant } },
    h('td', {}, inv.name),
    h('td', {}, label('kinds', inv.kind)),
    h('td', { class: 'cell-actions' },
      copyButton(() => inv.link, t('copyLink')),
      h('a', { class: 'inv-link small-link', href: inv.link, target: '_blank', rel: 'noopener' }, t('openJoin'))),
    h('td', {},
      h('a', { class: 'inv-notice small-link', href: inv.notice, target: '_blank', rel: 'noopener' }, t('openNotice'))),
    h('td', {},
      h('button', { type: 'button', class: 'small', onclick: () => showQr(view, inv) }, t('showQr'))),
    h('td', { class: 'cell-actions' },
      h('button', { type: 'button', class: 'small danger-outline', dataset: { testid: `reissue-${inv.participant}` }, onclick: (e) => reissue(view, inv, e.currentTarget) }, t('reissue')),
      h('span', { class: `row-status ${status?.kind ?? ''}`, role: 'status' }, status?.text ?? '')));
}

/// A new link for one participant (the old one leaked, or a device was
/// lost), confirmed first: the old link stops working at once.
async function reissue(view, inv, button) {
  if (!await ask(t('confirmReissue', { name: inv.name }), { ok: t('reissue'), danger: true })) return;
  button.disabled = true;
  let status;
  let fresh = inv;
  try {
    fresh = { ...await post(`${view.base}/invitations/${encodeURIComponent(inv.participant)}/reissue`), issued: Date.now() };
    status = { text: t('reissued'), kind: 'ok' };
  } catch (e) {
    status = { text: e.message, kind: 'error' };
  }
  if (current !== view) return;
  button.closest('tr')?.replaceWith(invitationRow(view, fresh, status));
}

function showQr(view, inv) {
  const img = $('qr-img');
  $('qr-name').textContent = inv.name;
  $('qr-error').hidden = true;
  img.hidden = false;
  img.onerror = () => {
    img.hidden = true;
    $('qr-error').textContent = t('qrMissing');
    $('qr-error').hidden = false;
  };
  img.alt = t('qrAlt', { name: inv.name });
  // After a re-issue the image is another: a new address, not the browser's copy.
  img.src = `${view.base}/invitations/${encodeURIComponent(inv.participant)}/qr.svg${inv.issued ? `?v=${inv.issued}` : ''}`;
  $('qr-dialog').showModal();
}

// ---------- attendance ----------

/// Loads the attendance now and again every 3 s while the meeting may
/// change (open, in progress, or a server that does not say).
async function poll(view) {
  await loadAttendance(view);
  const running = ['open', 'in_progress'].includes(view.meeting.status);
  if (current === view) await loadRecordings(view, running);
  if (current === view) await loadLive(view, running);
  if (view.stopped || QUIET.has(view.meeting.status)) return;
  view.timer = setTimeout(() => poll(view), POLL_MS);
}

async function loadAttendance(view) {
  let data;
  try {
    data = await get(`${view.base}/attendance`);
  } catch (e) {
    if (current !== view) return;
    $('att-updated').textContent = e.message;
    $('att-updated').classList.add('error');
    return;
  }
  if (current !== view) return;
  // The server wraps the lines as {title, participants}; a bare array is accepted too.
  const lines = Array.isArray(data) ? data : data.participants;
  const present = lines.filter((l) => l.status === 'present');
  const onLeave = lines.filter((l) => l.rsvp === 'leave');
  const missing = lines.filter((l) => l.status !== 'present' && l.rsvp !== 'leave');
  const signed = lines.filter((l) => l.signed_in);
  const time = (secs) => (secs ? hm(fromUnix(secs)) : '');
  const count = (key, n, kind) => h('div', { class: `count ${kind}`, dataset: { testid: `count-${key}` } }, h('b', {}, String(n)), h('span', {}, t(key)));
  $('att-counts').replaceChildren(
    count('present', present.length, 'ok'),
    count('missing', missing.length, missing.length && view.meeting.status !== 'scheduled' ? 'bad' : ''),
    count('onLeave', onLeave.length, ''),
    count('signedIn', signed.length, ''),
    count('invited', lines.length, ''),
  );
  const item = (l, note) => h('li', { dataset: { participant: l.participant } }, h('span', {}, l.name), note ? h('small', {}, note) : null);
  fill('att-present', present.map((l) => item(l, t('joinedAt', { time: time(l.first_join) }))));
  const why = (l) => (l.status === 'left' ? t('leftAt', { time: time(l.last_leave) }) : t(l.rsvp === 'confirmed' ? 'confirmedNotJoined' : 'notJoined'));
  fill('att-missing', missing.map((l) => item(l, why(l))));
  fill('att-leave', onLeave.map((l) => item(l, l.leave_reason || '')));
  fill('att-signed', signed.map((l) => item(l, time(l.signed_in))));
  $('att-updated').classList.remove('error');
  $('att-updated').textContent = t('updatedAt', { time: countyNow().toISOString().slice(11, 19) });
}

function fill(id, items) {
  $(id).replaceChildren(...(items.length ? items : [h('li', { class: 'none' }, t('nobody'))]));
}
