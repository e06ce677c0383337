// The audit log (audit administrator): filters (who, what, outcome, from
// and to which county day), the records newest first a page at a time, the
// same filters as a CSV export (a plain download link; the server records
// the export), and a check of the hash chain (tampering breaks it).
// The query building, the action names and the chain report are plain
// functions (tested under Node: web-client/tests/console.test.mjs).

import { $, h } from './dom.js';
import { unixLabel } from './console-util.js';
import { get } from './console-api.js';
import { t, label } from './i18n.js';

const API = '/api/v1/audit';
/// Records per page (the server allows 1–500).
export const PAGE_SIZE = 100;
/// The filter's outcomes.
export const OUTCOMES = ['ok', 'failed', 'denied'];

const DAY = 86400;
const OFFSET = 8 * 3600; // county time, UTC+8

/// Unix seconds of the county's midnight starting `YYYY-MM-DD`, or null.
export function dayStart(date) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date ?? '');
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3]) / 1000 - OFFSET : null;
}

/// The filter `{actor, action, outcome, from, to}` (dates `YYYY-MM-DD`, both
/// days included) as the server's query parameters, without empty ones:
/// `from` the first second of the first day, `to` the first second after
/// the last (the server takes `at < to`).
export function auditParams({ actor = '', action = '', outcome = '', from = '', to = '' } = {}) {
  const q = new URLSearchParams();
  if (actor.trim()) q.set('actor', actor.trim());
  if (action.trim()) q.set('action', action.trim());
  if (OUTCOMES.includes(outcome)) q.set('outcome', outcome);
  const start = dayStart(from);
  const end = dayStart(to);
  if (start !== null) q.set('from', String(start));
  if (end !== null) q.set('to', String(end + DAY));
  return q;
}

/// The address of one page: the filter, then `before` (a `seq`, from the
/// last page's `next`) and `limit`.
export function auditUrl(filter, before = null, limit = PAGE_SIZE) {
  const q = auditParams(filter);
  if (before !== null && before !== undefined) q.set('before', String(before));
  q.set('limit', String(limit));
  return `${API}?${q}`;
}

/// The CSV export of everything the filter matches.
export const exportUrl = (filter) => `${API}/export.csv?${auditParams(filter)}`;

/// Whether the filter's days are the right way round (either may be empty).
export const rangeOk = ({ from = '', to = '' } = {}) => !from || !to || from <= to;

/// The action in the user's words ("login" → 登录), or '' where the
/// console has no name for it (the raw action is always shown as well).
export function actionLabel(action) {
  const name = label('auditActions', action);
  return name === action ? '' : name;
}

/// The chain check's result: `{ok, text}`.
export function verifyMessage({ records, broken_at: broken, head_seq: seq, head_hash: hash }) {
  if (broken !== null && broken !== undefined) return { ok: false, text: t('auditBroken', { seq: broken }) };
  if (!records) return { ok: true, text: t('auditNoRecords') };
  return { ok: true, text: t('auditIntact', { n: records, seq, hash: hash ?? '' }) };
}

// ---------- the view ----------

let page = { filter: {}, before: null, number: 1 }; // the page on screen
let loads = 0; // page loads so far; only the newest is drawn

/// Wires the filters, the pager and the check once.
export function initAudit() {
  $('audit-outcome').replaceChildren(h('option', { value: '' }, t('auditAnyOutcome')),
    ...OUTCOMES.map((o) => h('option', { value: o }, label('outcomes', o))));
  $('audit-actions').replaceChildren(...['login', 'account.', 'meeting.', 'org.', 'invitation', 'attendance.', 'audit.', 'config.', 'template.', 'series.', 'rsvp', 'denied']
    .map((a) => h('option', { value: a }, label('auditFamilies', a))));
  $('audit-form').addEventListener('submit', (e) => {
    e.preventDefault();
    search();
  });
  $('audit-form').addEventListener('input', updateExport);
  $('audit-clear').addEventListener('click', () => {
    $('audit-form').reset();
    search();
  });
  $('audit-first').addEventListener('click', () => load({ ...page, before: null, number: 1 }));
  $('audit-next').addEventListener('click', () => load({ ...page, before: Number($('audit-next').dataset.before), number: page.number + 1 }));
  $('audit-verify').addEventListener('click', verify);
}

/// The newest records, with the filters as they are.
export async function showAudit() {
  $('audit-verify-result').hidden = true;
  await search();
}

const formFilter = () => ({
  actor: $('audit-actor').value,
  action: $('audit-action').value,
  outcome: $('audit-outcome').value,
  from: $('audit-from').value,
  to: $('audit-to').value,
});

/// The export link follows the filters as typed.
function updateExport() {
  $('audit-export').href = exportUrl(formFilter());
}

function search() {
  const filter = formFilter();
  updateExport();
  if (!rangeOk(filter)) {
    showError(t('auditBadRange'));
    return;
  }
  return load({ filter, before: null, number: 1 });
}

function showError(text) {
  $('audit-error').textContent = text;
  $('audit-error').hidden = !text;
}

async function load(next) {
  const current = ++loads;
  showError('');
  $('audit-next').disabled = true;
  let data;
  try {
    data = await get(auditUrl(next.filter, next.before));
  } catch (e) {
    if (current === loads) showError(e.message);
    return;
  }
  if (current !== loads) return;
  page = next;
  const entries = data?.entries ?? [];
  $('audit-table').tBodies[0].replaceChildren(...entries.map(entryRow));
  $('audit-table').hidden = !entries.length;
  $('audit-empty').hidden = entries.length > 0;
  $('audit-page').textContent = entries.length ? t('auditPage', { page: page.number, n: entries.length }) : '';
  $('audit-first').hidden = page.number === 1;
  $('audit-next').hidden = data?.next === null || data?.next === undefined;
  $('audit-next').disabled = false;
  $('audit-next').dataset.before = String(data?.next ?? '');
}

/// One record. The actor shows as its username (`actor_name`) when the
/// server knows it, else its account id; clicking it shows its records.
function entryRow(e) {
  const name = actionLabel(e.action);
  const who = e.actor_name || e.actor;
  const actor = e.actor
    ? h('button', { type: 'button', class: 'link mono', title: t('auditByActor'), onclick: () => byActor(who) }, who)
    : h('span', { class: 'muted' }, '—');
  return h('tr', { class: `outcome-${e.outcome}`, dataset: { seq: e.seq } },
    h('td', { class: 'num' }, String(e.seq)),
    h('td', { class: 'nowrap' }, unixLabel(e.at, true)),
    h('td', {}, actor),
    h('td', { title: e.action }, name || e.action, name ? h('small', { class: 'raw mono' }, e.action) : null),
    h('td', { class: 'wrap' }, e.target ?? ''),
    h('td', { class: 'wrap' }, e.detail ?? ''),
    h('td', { class: 'mono' }, e.source ?? ''),
    h('td', {}, h('span', { class: `badge outcome ${e.outcome}` }, label('outcomes', e.outcome))));
}

function byActor(actor) {
  $('audit-actor').value = actor;
  search();
}

/// GET /audit/verify: walks the whole chain.
async function verify() {
  const el = $('audit-verify-result');
  $('audit-verify').disabled = true;
  try {
    const { ok, text } = verifyMessage(await get(`${API}/verify`));
    el.textContent = text;
    el.className = `alert ${ok ? 'ok' : 'error'}`;
  } catch (e) {
    el.textContent = e.message;
    el.className = 'alert error';
  } finally {
    el.hidden = false;
    $('audit-verify').disabled = false;
  }
}
