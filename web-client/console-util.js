// Helpers shared by the console's modules: county time, copying to the
// clipboard, the confirm / prompt dialog. Building DOM is dom.js (shared
// with the meeting page); the strings are i18n.js.

import { t } from './i18n.js';
import { $, h } from './dom.js';

// ---------- county time ----------
// The server keeps county-local times (China Standard Time, UTC+8 all year)
// as `YYYY-MM-DDTHH:MM:SS`. Here such a time is a Date whose UTC fields are
// the county's wall clock, whatever the browser's own time zone.

const OFFSET_MS = 8 * 3600 * 1000;

/// The county's wall clock now.
export const countyNow = () => new Date(Date.now() + OFFSET_MS);
/// A server time string (or a `YYYY-MM-DD` date) as a wall-clock Date.
export const parseLocal = (s) => new Date(s.length === 10 ? `${s}T00:00:00Z` : `${s}Z`);
/// A wall-clock Date as the server's `YYYY-MM-DDTHH:MM:SS`.
export const formatLocal = (d) => d.toISOString().slice(0, 19);
/// Unix seconds (attendance times) as a wall-clock Date.
export const fromUnix = (secs) => new Date(secs * 1000 + OFFSET_MS);
/// `YYYY-MM-DD`.
export const ymd = (d) => d.toISOString().slice(0, 10);
/// Unix seconds as the county's `YYYY-MM-DD HH:MM` (with `:SS` if `seconds`).
export const unixLabel = (secs, seconds = false) => fromUnix(secs).toISOString().slice(0, seconds ? 19 : 16).replace('T', ' ');
/// `HH:MM`.
export const hm = (d) => d.toISOString().slice(11, 16);
/// Minutes since midnight.
export const minuteOfDay = (d) => d.getUTCHours() * 60 + d.getUTCMinutes();
export const addDays = (d, n) => new Date(d.getTime() + n * 86400000);
export const addMinutes = (d, n) => new Date(d.getTime() + n * 60000);
/// Midnight of the Monday of `d`'s week.
export function mondayOf(d) {
  const day = parseLocal(ymd(d));
  return addDays(day, -((day.getUTCDay() + 6) % 7));
}
/// Monday = 0 … Sunday = 6.
export const weekdayIndex = (d) => (d.getUTCDay() + 6) % 7;
/// "11月27日 周五" / "Fri 27 Nov"; with the year: "2026年11月27日 周五".
export const dayLabel = (d, year = false) => t(year ? 'dateLong' : 'dayLabel', {
  y: d.getUTCFullYear(), m: d.getUTCMonth() + 1, d: d.getUTCDate(),
  w: t('weekdays')[weekdayIndex(d)], mon: t('months')[d.getUTCMonth()],
});
/// "2026年11月27日 周五 09:00–11:00" for a meeting.
export function spanLabel(m) {
  const s = parseLocal(m.start);
  const e = parseLocal(m.end);
  const sameDay = ymd(s) === ymd(e);
  return `${dayLabel(s, true)} ${hm(s)}–${sameDay ? '' : `${dayLabel(e)} `}${hm(e)}`;
}

// ---------- clipboard ----------

/// Copies text; falls back to the old selection command where the
/// Clipboard API is unavailable (plain HTTP on an intranet address).
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch { /* fall back below */ }
  }
  const area = h('textarea', { class: 'offscreen', readonly: true, value: text });
  document.body.append(area);
  area.select();
  const ok = document.execCommand('copy');
  area.remove();
  return ok;
}

/// A copy button: copies `text()` and says so on the button for a moment.
export function copyButton(text, label = t('copy'), className = 'small') {
  const button = h('button', { type: 'button', class: className }, label);
  button.addEventListener('click', async () => {
    const ok = await copyText(text());
    button.textContent = ok ? t('copied') : t('copyFailed');
    setTimeout(() => { button.textContent = label; }, 1500);
  });
  return button;
}

// ---------- dialogs ----------

/// Asks the user: a confirmation (resolves true / false) or, with
/// `input`, a line of text (resolves the text, or null when cancelled).
export function ask(message, { input, ok = t('ok'), danger = false } = {}) {
  const dialog = $('dialog');
  const field = $('dialog-input');
  $('dialog-text').textContent = message;
  $('dialog-ok').textContent = ok;
  $('dialog-ok').classList.toggle('danger', danger);
  field.hidden = input === undefined;
  field.required = input !== undefined;
  field.value = input ?? '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      const yes = dialog.returnValue === 'ok';
      if (input === undefined) resolve(yes);
      else resolve(yes ? field.value.trim() : null);
    }, { once: true });
    dialog.returnValue = '';
    dialog.showModal();
    if (input !== undefined) field.select();
  });
}

/// Shows a message under the header (kind: ok, warn, error); empty text hides it.
export function flash(text, kind = 'ok') {
  const el = $('flash');
  el.textContent = text;
  el.className = `flash ${kind}`;
  el.hidden = !text;
}
