// The one translation mechanism of the web client, for the meeting page and
// the secretary console alike: `t()`, labels from string tables, the
// language switch with its one stored choice, and filling the page's
// data-i18n elements. The words themselves are data files: meeting-i18n.js
// (the meeting page) and console-i18n.js (the console); each page picks its
// own with `useStrings` before it shows anything.
//
// Chinese first; English with ?lang=en or the language button, remembered
// in localStorage (the same choice for both pages). DOM-free apart from
// `applyStrings` and the <html lang> attribute, so it loads under Node too.

/// The languages, the first one the default.
export const LANGS = ['zh', 'en'];
/// Where the chosen language is kept (both pages).
export const LANG_KEY = 'huiyi.lang';

let strings = { zh: {}, en: {} };
let lang = initialLang();

/// ?lang=… first, then the stored choice, else Chinese.
function initialLang() {
  let want = null;
  try {
    want = new URLSearchParams(globalThis.location?.search ?? '').get('lang') || globalThis.localStorage?.getItem(LANG_KEY);
  } catch { /* storage unavailable: the default */ }
  return LANGS.includes(want) ? want : LANGS[0];
}

/// Makes `dictionaries` ({zh: {...}, en: {...}}) the page's strings.
export function useStrings(dictionaries) {
  strings = dictionaries;
}

/// The string (or table) `key` in the current language, Chinese where the
/// language lacks it, the key itself where both do; `{name}` placeholders
/// in a string are filled from `vars` (as text, whatever the value holds).
export function t(key, vars = {}) {
  let s = strings[lang]?.[key] ?? strings[LANGS[0]]?.[key] ?? key;
  if (typeof s === 'string') s = s.replace(/\{(\w+)\}/g, (all, name) => (name in vars ? String(vars[name]) : all));
  return s;
}

/// The entry `key` of the string table `table` (roles, statuses, kinds …),
/// or `key` itself where the table has none: `label('roles', 'chair')` → 主席.
export function label(table, key) {
  const entries = t(table);
  return (entries && typeof entries === 'object' ? entries[key] : undefined) ?? key;
}

export function currentLang() { return lang; }

/// The BCP 47 tag of the current language (for <html lang> and dates).
export const langTag = () => (lang === 'zh' ? 'zh-CN' : 'en');

/// Switches to `next` and remembers it for both pages.
export function setLang(next) {
  if (!LANGS.includes(next)) return;
  lang = next;
  try { globalThis.localStorage?.setItem(LANG_KEY, lang); } catch { /* not kept */ }
  if (globalThis.document) document.documentElement.lang = langTag();
}

/// Chinese ↔ English.
export function toggleLang() {
  setLang(lang === 'zh' ? 'en' : 'zh');
}

/// Fills every element with a data-i18n (text) or data-i18n-placeholder
/// attribute under `root`, and sets <html lang>.
export function applyStrings(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  document.documentElement.lang = langTag();
}
