// The secretary's console (会务管理) in Chromium against a running Huiyi
// server: log in through the form, schedule a meeting starting now with two
// venues picked on the organisation tree, read venue v1's join link from the
// invitations, let v1 join from its own browser, and watch the live
// attendance show v1 present and v2 missing. At the end the secretary
// changes its own password (to HUIYI_PASSWORD + '-new') from the header.
//
// Env (set by the Rust harness): HUIYI_BASE (http://127.0.0.1:PORT),
// HUIYI_SECRETARY and HUIYI_PASSWORD (a secretary account); the org tree has
// township t1 城关镇 with venue v1 城关镇会议室 and t2 河口乡 with v2 河口乡会议室.
// HUIYI_SCREENSHOTS, if set, is a directory for screenshots.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { participant } from './lib.mjs';

const base = process.env.HUIYI_BASE;
const username = process.env.HUIYI_SECRETARY;
const password = process.env.HUIYI_PASSWORD;
const shots = process.env.HUIYI_SCREENSHOTS;

/// County time (UTC+8) `minutes` from now, as the form's date and time fields take it.
function countyTime(minutes = 0) {
  const iso = new Date(Date.now() + (8 * 60 + minutes) * 60000).toISOString();
  return { date: iso.slice(0, 10), time: iso.slice(11, 16) };
}

/// Picks a unit on the form's tree the way a secretary does: search, tick.
async function pick(page, id, name) {
  await page.fill('#f-tree-search', name);
  await page.check(`#f-tree input[data-org="${id}"]`);
}

test('the secretary schedules a meeting and watches a venue join', { timeout: 60000 }, async () => {
  assert.ok(base && username && password, 'HUIYI_BASE, HUIYI_SECRETARY and HUIYI_PASSWORD are set');
  const desk = await participant(`${base}/console`, { width: 1280, height: 900 });
  const page = desk.page;
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  let venue = null;
  try {
    // Log in through the form.
    await page.fill('#login-username', username);
    await page.fill('#login-password', password);
    await page.click('#login-submit');
    await page.waitForSelector('#shell:not([hidden])');
    assert.match(await page.textContent('#who'), /（会务）|（管理员）/);

    // A meeting starting now (the join window is open), with v1 and v2.
    await page.click('#nav a[data-view="new"]');
    await page.waitForSelector('#f-tree input[data-org="v1"]', { state: 'attached' });
    const now = countyTime();
    const late = now.time >= '23:00'; // keep the meeting within today
    const title = `浏览器测试会议 ${now.time}`;
    await page.fill('#f-title', title);
    await page.fill('#f-agenda', '一、传达上级会议精神\n二、部署近期工作');
    await page.fill('#f-date', now.date);
    await page.fill('#f-start', late ? '23:00' : now.time);
    await page.fill('#f-end', late ? '23:59' : countyTime(60).time);
    await pick(page, 'v1', '城关镇会议室');
    await pick(page, 'v2', '河口乡会议室');
    await page.fill('#f-tree-search', '');
    assert.match(await page.textContent('#f-tree-count'), /已选 2 个/);
    if (shots) await page.screenshot({ path: `${shots}/console-form.png`, fullPage: true });
    await page.click('#f-save');

    // The detail page: saved, with one invitation per venue.
    await page.waitForSelector('#d-main:not([hidden])');
    assert.equal(await page.textContent('#d-title'), title);
    const id = decodeURIComponent(new URL(page.url()).hash.split('/')[2]);
    assert.ok(id, 'the address names the meeting');
    const link = await page.getAttribute('#inv-table tr[data-participant="v1"] a.inv-link', 'href');
    assert.ok(await page.$('#inv-table tr[data-participant="v2"]'), 'v2 is invited');
    assert.match(link, /\/\?token=/);

    // Venue v1 joins from its own browser.
    venue = await participant(link);
    await venue.page.waitForSelector('#join:not([disabled])', { timeout: 20000 });
    await venue.page.click('#join');
    await venue.page.waitForSelector('#meeting:not([hidden])', { timeout: 20000 });

    // The console's live status (polled every 3 s): v1 in, v2 missing.
    await page.waitForSelector('#att-present li[data-participant="v1"]', { timeout: 15000 });
    assert.ok(await page.$('#att-missing li[data-participant="v2"]'), 'v2 is listed as missing');
    assert.equal(await page.$('#att-missing li[data-participant="v1"]'), null, 'v1 is not missing');
    assert.equal(await page.textContent('[data-testid="count-present"] b'), '1');
    assert.equal(await page.textContent('[data-testid="count-missing"] b'), '1');
    assert.equal(await page.getAttribute('#d-status .badge', 'data-status'), 'in_progress');
    if (shots) await page.screenshot({ path: `${shots}/console-live.png`, fullPage: true });

    // The attendance export has v1 present.
    const csvHref = await page.getAttribute('#d-csv', 'href');
    const csv = await page.evaluate(async (href) => {
      const res = await fetch(href);
      return { status: res.status, text: await res.text() };
    }, csvHref);
    assert.equal(csv.status, 200);
    const row = (name) => csv.text.split(/\r?\n/).find((line) => line.includes(name)) ?? '';
    assert.match(row('城关镇会议室'), /在会/, 'v1 is present in the CSV');
    assert.match(row('河口乡会议室'), /缺席/, 'v2 is absent in the CSV');

    // The week calendar shows the meeting.
    await page.click('#nav a[data-view="week"]');
    await page.waitForSelector(`[data-testid="cal-${id}"]`);
    if (shots) await page.screenshot({ path: `${shots}/console-week.png` });

    // The secretary changes its own password from the header and stays logged in.
    await page.click('[data-testid="change-password"]');
    await page.fill('#pw-old', password);
    await page.fill('#pw-new', `${password}-new`);
    await page.fill('#pw-repeat', `${password}-new`);
    await page.click('#pw-submit');
    await page.waitForSelector('#pw-result.ok');
    assert.match(await page.textContent('[data-testid="password-result"]'), /密码已修改/);
    assert.ok(await page.isVisible('#shell'), 'this session stays');

    const origin = new URL(base).origin;
    const foreign = desk.requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:'));
    assert.deepEqual(foreign, [], 'the console requests nothing but its server');
    assert.deepEqual(pageErrors, [], 'no script errors');
  } finally {
    await venue?.browser.close().catch(() => {});
    await desk.browser.close().catch(() => {});
  }
});
