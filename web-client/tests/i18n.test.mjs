// The one translation mechanism (i18n.js) and the two pages' dictionaries
// under Node: every key a page or a script asks for exists, in Chinese and
// in English, and `t` fills placeholders as text.
//   node --test web-client/tests/

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { t, label, useStrings, currentLang, setLang, toggleLang, langTag, LANGS } from '../i18n.js';
import { STRINGS as MEETING } from '../meeting-i18n.js';
import { STRINGS as CONSOLE } from '../console-i18n.js';
import { ROLES, LAYOUTS, ROLL_STATUSES } from '../model.js';

const dir = new URL('../', import.meta.url);
const read = (name) => readFileSync(new URL(name, dir), 'utf8');
const scripts = readdirSync(dir).filter((f) => f.endsWith('.js'));

/// Each page: its HTML, its scripts, its dictionaries.
const PAGES = [
  { name: 'meeting page', html: 'index.html', strings: MEETING, scripts: ['app.js', 'chair.js'] },
  { name: 'console', html: 'console.html', strings: CONSOLE, scripts: scripts.filter((f) => f.startsWith('console')) },
];

const shape = (v) => (Array.isArray(v) ? `array ${v.length}` : v && typeof v === 'object' ? `table ${Object.keys(v).sort()}` : typeof v);

for (const page of PAGES) {
  test(`${page.name}: Chinese and English have the same keys, of the same shape`, () => {
    assert.deepEqual(LANGS, ['zh', 'en']);
    assert.deepEqual(Object.keys(page.strings.en).sort(), Object.keys(page.strings.zh).sort());
    for (const key of Object.keys(page.strings.zh)) assert.equal(shape(page.strings.en[key]), shape(page.strings.zh[key]), key);
  });

  test(`${page.name}: every data-i18n key of ${page.html} is in its dictionary`, () => {
    const html = read(page.html);
    const keys = [...html.matchAll(/data-i18n(?:-placeholder)?="([^"]+)"/g)].map((m) => m[1]);
    assert.ok(keys.length > 10, 'the page has translated elements');
    for (const key of keys) assert.ok(key in page.strings.zh, `${page.html}: ${key}`);
  });

  test(`${page.name}: every literal t('…') and label('…') of its scripts is in its dictionary`, () => {
    for (const file of page.scripts) {
      const src = read(file);
      for (const [, key] of src.matchAll(/\b(?:t|label)\('(\w+)'/g)) assert.ok(key in page.strings.zh, `${file}: ${key}`);
    }
  });
}

test('the pages share the mechanism: no script keeps its own t() or language', () => {
  for (const file of scripts.filter((f) => f !== 'i18n.js')) {
    const src = read(file);
    assert.doesNotMatch(src, /export function t\(|localStorage/, file);
  }
});

test('t: the current language, Chinese where it lacks a key, the key where both do', () => {
  useStrings({ zh: { hi: '你好 {name}', onlyZh: '只有中文', table: { a: '甲' } }, en: { hi: 'Hello {name}', table: { a: 'A' } } });
  assert.equal(currentLang(), 'zh', 'Chinese first');
  assert.equal(langTag(), 'zh-CN');
  assert.equal(t('hi', { name: '张三' }), '你好 张三');
  assert.equal(label('table', 'a'), '甲');
  assert.equal(label('table', 'b'), 'b', 'an entry not in the table is itself');
  assert.equal(label('missing', 'x'), 'x');
  setLang('en');
  assert.equal(currentLang(), 'en');
  assert.equal(langTag(), 'en');
  assert.equal(t('hi', { name: 'Li' }), 'Hello Li');
  assert.equal(t('onlyZh'), '只有中文');
  assert.equal(t('nothing'), 'nothing');
  assert.equal(label('table', 'a'), 'A');
  setLang('fr');
  assert.equal(currentLang(), 'en', 'an unknown language is ignored');
  toggleLang();
  assert.equal(currentLang(), 'zh');
});

test('t fills placeholders as text', () => {
  useStrings({ zh: { s: '{a} 与 {b}，{a}', keep: '{missing} 保留' }, en: {} });
  assert.equal(t('s', { a: '$&', b: 3 }), '$& 与 3，$&', 'replacement patterns are not interpreted; every occurrence is filled');
  assert.equal(t('keep'), '{missing} 保留', 'a placeholder without a value stays');
});

test('the meeting page names every role and roll-call status, and offers every layout', () => {
  for (const lang of LANGS) {
    assert.deepEqual(Object.keys(MEETING[lang].roles).sort(), [...ROLES].sort(), `${lang} roles`);
    assert.deepEqual(Object.keys(MEETING[lang].rollStatus).sort(), [...ROLL_STATUSES].sort(), `${lang} roll-call statuses`);
  }
  const select = read('index.html').match(/<select id="layout-select">(.*?)<\/select>/)[1];
  assert.deepEqual([...select.matchAll(/<option>([^<]+)<\/option>/g)].map((m) => m[1]), LAYOUTS);
});
