// The week: a calendar (Monday to Sunday columns, hour rows) or a list of
// the week's meetings by day, with previous / next week and today.

import { $, h } from './dom.js';
import { countyNow, parseLocal, formatLocal, ymd, hm, minuteOfDay, addDays, mondayOf, dayLabel } from './console-util.js';
import { get } from './console-api.js';
import { t, label } from './i18n.js';

/// Hours shown at least (more when a meeting falls outside).
const FIRST_HOUR = 8;
const LAST_HOUR = 18;

let monday = mondayOf(countyNow());
let mode = matchMedia('(max-width: 700px)').matches ? 'list' : 'grid';
let ctx = { canSchedule: false }; // the console's (console.js): who is logged in
let go = () => {};
let loads = 0; // week loads so far; only the newest is drawn

/// Wires the week's buttons once; `ctx.go` navigates.
export function initCalendar(context) {
  ctx = context;
  go = context.go;
  $('week-prev').addEventListener('click', () => go(`#/week/${ymd(addDays(monday, -7))}`));
  $('week-next').addEventListener('click', () => go(`#/week/${ymd(addDays(monday, 7))}`));
  $('week-today').addEventListener('click', () => go(`#/week/${ymd(mondayOf(countyNow()))}`));
  for (const m of ['grid', 'list']) {
    $(`mode-${m}`).addEventListener('click', () => {
      mode = m;
      showMode();
    });
  }
}

function showMode() {
  $('week-grid').hidden = mode !== 'grid';
  $('week-list').hidden = mode !== 'list';
  $('mode-grid').setAttribute('aria-pressed', String(mode === 'grid'));
  $('mode-list').setAttribute('aria-pressed', String(mode === 'list'));
}

/// Shows the week containing `date` (`YYYY-MM-DD`, default today).
export async function showWeek(date) {
  monday = mondayOf(date ? parseLocal(date) : countyNow());
  const end = addDays(monday, 7);
  $('week-label').textContent = `${dayLabel(monday, true)} – ${dayLabel(addDays(monday, 6))}`;
  showMode();
  const load = ++loads;
  let meetings = [];
  let error = null;
  try {
    meetings = await get(`/api/v1/meetings?from=${formatLocal(monday)}&to=${formatLocal(end)}`);
  } catch (e) {
    error = e;
  }
  if (load !== loads) return;
  $('week-error').textContent = error?.message ?? '';
  $('week-error').hidden = !error;
  meetings.sort((a, b) => a.start.localeCompare(b.start));
  renderGrid(meetings);
  renderList(meetings);
}

/// A status badge (`status` is absent on servers without the lifecycle).
export function badge(status) {
  return status ? h('span', { class: `badge status-${status}`, dataset: { status } }, label('statuses', status)) : null;
}

function renderGrid(meetings) {
  const days = [...Array(7)].map((_, i) => addDays(monday, i));
  const today = ymd(countyNow());
  let first = FIRST_HOUR;
  let last = LAST_HOUR;
  for (const m of meetings) {
    first = Math.min(first, parseLocal(m.start).getUTCHours());
    const e = parseLocal(m.end);
    last = Math.max(last, ymd(e) === m.start.slice(0, 10) ? Math.ceil(minuteOfDay(e) / 60) : 24);
  }
  const span = (last - first) * 60;
  const head = h('div', { class: 'wk-head' }, h('span'),
    days.map((d) => h('span', { class: ymd(d) === today ? 'today' : '' }, dayLabel(d))));
  const hours = h('div', { class: 'wk-hours' },
    [...Array(last - first)].map((_, i) => h('span', {}, `${String(first + i).padStart(2, '0')}:00`)));
  const columns = days.map((d) => {
    const col = h('div', { class: `wk-day${ymd(d) === today ? ' today' : ''}`, dataset: { date: ymd(d) } });
    if (ctx.canSchedule) {
      col.classList.add('clickable');
      col.title = t('clickToCreate');
      col.addEventListener('click', (e) => {
        if (e.target !== col) return;
        const hour = first + Math.floor(((e.offsetY / col.clientHeight) * span) / 60);
        go(`#/new/${ymd(d)}T${String(hour).padStart(2, '0')}:00`);
      });
    }
    const mine = meetings.filter((m) => m.start.startsWith(ymd(d)));
    for (const [m, lane, lanes] of lanesOf(mine)) {
      const s = minuteOfDay(parseLocal(m.start));
      const e = m.end.startsWith(ymd(d)) ? minuteOfDay(parseLocal(m.end)) : 24 * 60;
      const when = `${hm(parseLocal(m.start))}–${hm(parseLocal(m.end))}`;
      const ev = h('a', {
        class: `wk-ev status-${m.status ?? 'unknown'}`, href: `#/meeting/${m.id}`, dataset: { testid: `cal-${m.id}` },
        title: `${m.title}\n${when} ${t('statuses')[m.status] ?? ''}`,
      }, h('b', {}, m.title), h('span', {}, `${when} `, badge(m.status)));
      ev.style.top = `${((s - first * 60) / span) * 100}%`;
      ev.style.height = `${(Math.max(e - s, 20) / span) * 100}%`;
      ev.style.left = `${(lane / lanes) * 100}%`;
      ev.style.width = `${100 / lanes}%`;
      col.append(ev);
    }
    if (ymd(d) === today) {
      const now = minuteOfDay(countyNow()) - first * 60;
      if (now >= 0 && now <= span) {
        const line = h('div', { class: 'wk-now' });
        line.style.top = `${(now / span) * 100}%`;
        col.append(line);
      }
    }
    return col;
  });
  const body = h('div', { class: 'wk-body' }, hours, columns);
  body.style.setProperty('--hours', String(last - first));
  $('week-grid').replaceChildren(h('div', { class: 'wk' }, head, body));
}

/// Side-by-side lanes for overlapping meetings of one day (sorted by
/// start): `[meeting, lane, lanes]`, lanes counted per group of meetings
/// that overlap one another.
function lanesOf(meetings) {
  const out = [];
  let group = [];
  let ends = []; // per lane of the group, when its last meeting ends
  const close = () => {
    for (const [m, lane] of group) out.push([m, lane, ends.length]);
    group = [];
    ends = [];
  };
  for (const m of meetings) {
    if (ends.length && ends.every((end) => end <= m.start)) close();
    let lane = ends.findIndex((end) => end <= m.start);
    if (lane < 0) lane = ends.push(m.end) - 1;
    else ends[lane] = m.end;
    group.push([m, lane]);
  }
  close();
  return out;
}

function renderList(meetings) {
  const days = [...Array(7)].map((_, i) => addDays(monday, i));
  const today = ymd(countyNow());
  const groups = days.map((d) => {
    const mine = meetings.filter((m) => m.start.startsWith(ymd(d)));
    if (!mine.length) return null;
    return h('section', { class: `day${ymd(d) === today ? ' today' : ''}` },
      h('h3', {}, dayLabel(d), ymd(d) === today ? h('span', { class: 'today-tag' }, t('today')) : null),
      h('ul', {}, mine.map((m) => h('li', {},
        h('a', { href: `#/meeting/${m.id}`, dataset: { testid: `list-${m.id}` }, class: `status-${m.status ?? 'unknown'}` },
          h('span', { class: 'time' }, `${hm(parseLocal(m.start))}–${hm(parseLocal(m.end))}`),
          h('span', { class: 'title' }, m.title),
          h('span', { class: 'meta' }, t('participantCount', { n: m.participants.length })),
          badge(m.status))))));
  }).filter(Boolean);
  $('week-list').replaceChildren(...(groups.length ? groups : [h('p', { class: 'empty' }, t('noMeetings'))]));
}
