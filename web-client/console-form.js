// The meeting form: create a meeting (once, or recurring as a series), edit
// one with ETag / If-Match, pick participants on the organisation tree,
// start from a template or save the form as one.

import { $, h } from './dom.js';
import { ask, flash, countyNow, parseLocal, ymd, hm, addDays, addMinutes, weekdayIndex } from './console-util.js';
import { request, get, post, orgUnits, chairs } from './console-api.js';
import { OrgTree } from './console-tree.js';
import { t } from './i18n.js';

const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
/// Names of the selected participants listed under the tree.
const NAMES_SHOWN = 12;

let ctx = null;
let tree = null;
let editing = null; // { id, etag } while editing
let templates = [];

/// Wires the form's controls once.
export function initForm(c) {
  ctx = c;
  $('f-weekdays').replaceChildren(...WEEKDAYS.map((w, i) => h('label', { class: 'chip' },
    h('input', { type: 'checkbox', name: 'weekday', value: w }), t('weekdays')[i])));
  $('meeting-form').addEventListener('submit', save);
  $('meeting-form').addEventListener('input', () => { $('f-error').hidden = true; });
  $('f-repeat').addEventListener('change', showRepeat);
  $('f-tree-search').addEventListener('input', (e) => tree?.filter(e.target.value));
  $('f-tree-clear').addEventListener('click', () => { if (tree) tree.selected = []; });
  $('f-template').addEventListener('change', () => {
    const tpl = templates.find((x) => x.id === $('f-template').value);
    if (tpl) applyTemplate(tpl);
  });
  $('f-save-template').addEventListener('click', saveTemplate);
  $('f-cancel').addEventListener('click', () => ctx.go(editing ? `#/meeting/${encodeURIComponent(editing.id)}` : '#/week'));
  $('f-reload').addEventListener('click', () => showEdit(editing.id));
}

/// A new meeting; `arg` may preset the start (`YYYY-MM-DDTHH:MM`, from a
/// click on the calendar); `carry.template` fills it from a template.
export async function showNew(arg, _ctx, carry = {}) {
  editing = null;
  const start = arg && /^\d{4}-\d\d-\d\dT\d\d:\d\d$/.test(arg) ? parseLocal(`${arg}:00`) : nextHalfHour();
  await prepare(t('newMeeting'));
  $('f-date').value = ymd(start);
  $('f-start').value = hm(start);
  $('f-end').value = hm(addMinutes(start, 60));
  $('f-open-before').value = '30';
  $('f-record').checked = false;
  await Promise.all([fillChairs(null), loadTemplates()]);
  if (carry.template) applyTemplate(carry.template);
}

/// Edits meeting `id` (reads it again, with its ETag).
export async function showEdit(id) {
  editing = { id, etag: null };
  await prepare(t('editMeeting'));
  let m;
  try {
    const res = await request(`/api/v1/meetings/${encodeURIComponent(id)}`);
    m = res.data;
    editing.etag = res.etag;
  } catch (e) {
    showError(e.message);
    return;
  }
  $('form-heading').textContent = t('editNamed', { title: m.title });
  $('f-title').value = m.title;
  $('f-agenda').value = m.agenda;
  $('f-date').value = m.start.slice(0, 10);
  $('f-start').value = m.start.slice(11, 16);
  $('f-end').value = m.end.slice(11, 16);
  $('f-open-before').value = String(m.open_before_min);
  $('f-record').checked = !!m.record;
  if (tree) tree.selected = m.participants;
  await fillChairs(m.chair);
}

/// The next full or half hour, county time.
function nextHalfHour() {
  const now = countyNow();
  const at = addMinutes(now, 30 - (now.getUTCMinutes() % 30));
  return parseLocal(`${ymd(at)}T${hm(at)}:00`);
}

/// Empties the form and loads the organisation tree.
async function prepare(heading) {
  $('form-heading').textContent = heading;
  $('meeting-form').reset();
  $('f-error').hidden = true;
  $('f-conflict').hidden = true;
  $('f-template-row').hidden = true;
  $('f-repeat-box').hidden = !!editing;
  showRepeat();
  $('f-tree-search').value = '';
  tree = null;
  $('f-tree').replaceChildren(h('p', { class: 'muted' }, t('loading')));
  try {
    tree = new OrgTree($('f-tree'), await orgUnits(), { selectable: true, onChange: showSelection });
  } catch (e) {
    $('f-tree').replaceChildren(h('p', { class: 'alert error' }, e.message));
  }
  showSelection();
}

function showSelection() {
  const { venue, person } = tree ? tree.counts() : { venue: 0, person: 0 };
  $('f-tree-count').textContent = t('selectedCount', { n: venue + person, v: venue, p: person });
  const names = tree ? tree.selectedNames() : [];
  $('f-tree-names').textContent = names.length
    ? `${t('selectedNames')}${names.slice(0, NAMES_SHOWN).join('、')}${names.length > NAMES_SHOWN ? t('andMore', { n: names.length }) : ''}`
    : '';
}

async function fillChairs(selected) {
  const select = $('f-chair');
  select.replaceChildren(h('option', { value: '' }, t('noChair')));
  $('f-chair-note').hidden = true;
  try {
    select.append(...(await chairs()).map((c) => h('option', { value: c.id }, `${c.display_name}（${c.username}）`)));
  } catch (e) {
    $('f-chair-note').textContent = `${t('chairsUnavailable')}${e.message}`;
    $('f-chair-note').hidden = false;
  }
  if (selected && ![...select.options].some((o) => o.value === selected)) select.append(h('option', { value: selected }, selected));
  select.value = selected ?? '';
}

// ---------- templates ----------

/// Fills the "new from template" choice; hidden when there are none (or
/// the server has no templates yet).
async function loadTemplates() {
  templates = await get('/api/v1/templates').catch(() => []);
  $('f-template').replaceChildren(h('option', { value: '' }, t('chooseTemplate')),
    ...templates.map((x) => h('option', { value: x.id }, x.name)));
  $('f-template-row').hidden = !templates.length;
}

function applyTemplate(tpl) {
  $('f-title').value = tpl.title;
  $('f-agenda').value = tpl.agenda ?? '';
  $('f-open-before').value = String(tpl.open_before_min ?? 30);
  if (tree) tree.selected = tpl.participants ?? [];
  const start = parseLocal(`${$('f-date').value}T${$('f-start').value}:00`);
  const end = addMinutes(start, tpl.duration_min || 60);
  $('f-end').value = ymd(end) === ymd(start) ? hm(end) : '23:59';
  const chair = $('f-chair');
  if (tpl.chair && ![...chair.options].some((o) => o.value === tpl.chair)) chair.append(h('option', { value: tpl.chair }, tpl.chair));
  chair.value = tpl.chair ?? '';
  flash(t('templateApplied', { name: tpl.name }));
}

async function saveTemplate() {
  const body = readForm();
  if (!body.title) return showError(t('errTitle'));
  const name = await ask(t('templateName'), { input: body.title, ok: t('save') });
  if (!name) return;
  const minutes = (parseLocal(body.end) - parseLocal(body.start)) / 60000;
  try {
    await post('/api/v1/templates', {
      name, title: body.title, agenda: body.agenda, chair: body.chair ?? null, participants: body.participants,
      duration_min: minutes > 0 ? minutes : 60, open_before_min: body.open_before_min,
    });
    flash(t('templateSaved', { name }));
  } catch (e) {
    showError(e.message);
  }
}

// ---------- recurrence ----------

const radio = (name) => document.querySelector(`input[name="${name}"]:checked`)?.value;

/// Shows the parts of the recurrence that apply, with sensible defaults.
function showRepeat() {
  const freq = $('f-repeat').value;
  $('f-repeat-detail').hidden = freq === 'none';
  $('f-weekdays').hidden = freq !== 'weekly';
  $('f-monthday').hidden = freq !== 'monthly';
  $('f-interval-unit').textContent = t('units')[freq] ?? '';
  const date = $('f-date').value ? parseLocal($('f-date').value) : countyNow();
  if (freq === 'weekly' && !document.querySelector('input[name="weekday"]:checked')) {
    document.querySelector(`input[name="weekday"][value="${WEEKDAYS[weekdayIndex(date)]}"]`).checked = true;
  }
  if (freq === 'monthly' && !$('f-day').value) $('f-day').value = String(date.getUTCDate());
  if (freq !== 'none' && !$('f-until').value) $('f-until').value = ymd(addDays(date, 56));
}

/// The recurrence rule of the form (docs/api.md, POST /series), or null.
function readRule() {
  const freq = $('f-repeat').value;
  if (freq === 'none') return null;
  const rule = { freq, interval: Number($('f-interval').value) || 1 };
  if (freq === 'weekly') rule.weekdays = [...document.querySelectorAll('input[name="weekday"]:checked')].map((b) => b.value);
  if (freq === 'monthly') rule.day = radio('monthday') === 'last' ? 'last' : { day: Number($('f-day').value) };
  rule.end = radio('repeat-end') === 'count' ? { count: Number($('f-count').value) } : { until: $('f-until').value };
  return rule;
}

/// The server counts the first meeting as the first occurrence whatever
/// the rule; a series "every Monday" entered on a Tuesday should start on
/// the next Monday, so the first meeting moves to the first day the rule hits.
function moveToFirstOccurrence(body, rule) {
  const start = parseLocal(body.start);
  const hits = (d) => {
    if (rule.freq === 'weekly') return rule.weekdays.includes(WEEKDAYS[weekdayIndex(d)]);
    if (rule.freq !== 'monthly') return true;
    const last = addDays(d, 1).getUTCDate() === 1;
    return rule.day === 'last' ? last : d.getUTCDate() === rule.day.day || (last && d.getUTCDate() < rule.day.day);
  };
  let days = 0;
  while (days < 62 && !hits(addDays(start, days))) days++;
  if (days === 62) return;
  const shift = (s) => `${ymd(addDays(parseLocal(s), days))}${s.slice(10)}`;
  body.start = shift(body.start);
  body.end = shift(body.end);
}

// ---------- saving ----------

function readForm() {
  const date = $('f-date').value;
  const body = {
    title: $('f-title').value.trim(),
    agenda: $('f-agenda').value,
    start: `${date}T${$('f-start').value}:00`,
    end: `${date}T${$('f-end').value}:00`,
    open_before_min: Number($('f-open-before').value) || 0,
    participants: tree ? tree.selected : [],
    record: $('f-record').checked,
  };
  if ($('f-chair').value) body.chair = $('f-chair').value;
  return body;
}

function showError(message) {
  $('f-error').textContent = message;
  $('f-error').hidden = false;
  $('f-error').scrollIntoView({ block: 'nearest' });
}

async function save(e) {
  e.preventDefault();
  $('f-error').hidden = true;
  const body = readForm();
  if (body.end <= body.start) return showError(t('errEndBeforeStart'));
  const rule = editing ? null : readRule();
  if (rule?.end.until === '') return showError(t('errUntil'));
  if (rule) moveToFirstOccurrence(body, rule);
  $('f-save').disabled = true;
  try {
    if (editing) {
      const path = `/api/v1/meetings/${encodeURIComponent(editing.id)}`;
      const { data } = await request(path, { method: 'PUT', json: body, ifMatch: editing.etag });
      ctx.go(`#/meeting/${encodeURIComponent(data.id)}`, { warnings: data.warnings, notice: t('saved') });
    } else if (rule) {
      const { meetings } = await post('/api/v1/series', { meeting: body, rule });
      if (!meetings.length) ctx.go(`#/week/${body.start.slice(0, 10)}`);
      else ctx.go(`#/meeting/${encodeURIComponent(meetings[0].id)}`, { notice: t('seriesCreated', { n: meetings.length }) });
    } else {
      const data = await post('/api/v1/meetings', body);
      ctx.go(`#/meeting/${encodeURIComponent(data.id)}`, { warnings: data.warnings, notice: t('created') });
    }
  } catch (err) {
    if (err.status === 412) {
      $('f-conflict').hidden = false;
      $('f-conflict').scrollIntoView({ block: 'nearest' });
    } else showError(err.message);
  } finally {
    $('f-save').disabled = false;
  }
}
