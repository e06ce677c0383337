// The "done when", walked by hand in Chromium (not part of the
// suite): the first admin logs in, imports an organisation tree, schedules
// a weekly meeting for three venues, a venue opens its notice and join link
// on a phone-sized window, the attendance is exported. Screenshots to $OUT.
// Env: HUIYI_BASE, HUIYI_ADMIN_PASSWORD, OUT, CSV (a file).
import { participant } from './lib.mjs';

const base = process.env.HUIYI_BASE;
const out = process.env.OUT;
const now = new Date(Date.now() + 8 * 3600000).toISOString();
const desk = await participant(`${base}/console`, { width: 1280, height: 900 });
const p = desk.page;
try {
  await p.fill('#login-username', 'admin');
  await p.fill('#login-password', process.env.HUIYI_ADMIN_PASSWORD);
  await p.click('#login-submit');
  await p.waitForSelector('#shell:not([hidden])');
  await p.click('#nav a[data-view="org"]');
  await p.setInputFiles('#org-file', process.env.CSV);
  await p.click('#org-submit');
  await p.waitForSelector('#org-result:not([hidden])');
  console.log('import:', await p.textContent('#org-result'));
  await p.screenshot({ path: `${out}/1-org.png`, fullPage: true });

  await p.click('#nav a[data-view="new"]');
  await p.waitForSelector('#f-tree input[data-org="v1"]', { state: 'attached' });
  await p.fill('#f-title', '全县每周工作例会');
  await p.fill('#f-agenda', '一、各乡镇汇报本周工作\n二、县领导部署下周工作');
  await p.fill('#f-date', now.slice(0, 10));
  await p.fill('#f-start', now.slice(11, 16));
  await p.fill('#f-end', '23:59');
  await p.selectOption('#f-repeat', 'weekly');
  const wd = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][new Date(now.slice(0, 10)).getUTCDay()];
  await p.check(`input[name="weekday"][value="${wd}"]`);
  await p.check('input[name="repeat-end"][value="count"]');
  await p.fill('#f-count', '8');
  for (const [id, name] of [['v1', '城关镇会议室'], ['v2', '河口乡会议室'], ['v3', '石桥镇会议室']]) {
    await p.fill('#f-tree-search', name);
    await p.check(`#f-tree input[data-org="${id}"]`);
  }
  await p.fill('#f-tree-search', '');
  await p.screenshot({ path: `${out}/2-form.png`, fullPage: true });
  await p.click('#f-save');
  await p.waitForSelector('#d-main:not([hidden])');
  const link = await p.getAttribute('#inv-table tr[data-participant="v1"] a.inv-link', 'href');
  const notice = link.replace('/?token=', '/notice?token=');
  console.log('meeting page:', p.url());

  const phone = await participant(notice, { width: 390, height: 844 });
  await phone.page.screenshot({ path: `${out}/3-notice-phone.png`, fullPage: true });
  await phone.page.goto(link);
  await phone.page.waitForSelector('#join:not([disabled])', { timeout: 20000 });
  await phone.page.click('#join');
  await phone.page.waitForSelector('#meeting:not([hidden])', { timeout: 20000 });
  await phone.page.waitForTimeout(2000);
  await phone.page.screenshot({ path: `${out}/4-joined-phone.png` });

  await p.waitForSelector('#att-present li[data-participant="v1"]', { timeout: 15000 });
  await p.screenshot({ path: `${out}/5-live.png`, fullPage: true });
  const xlsx = await p.getAttribute('#d-xlsx', 'href').catch(() => null);
  const res = await p.evaluate(async (h) => { const r = await fetch(h); return [r.status, r.headers.get('content-type'), (await r.arrayBuffer()).byteLength]; }, xlsx ?? `${p.url().split('#')[0]}`);
  console.log('xlsx:', xlsx, res);
  await p.click('#nav a[data-view="week"]');
  await p.waitForTimeout(1000);
  await p.screenshot({ path: `${out}/6-week.png` });
  await phone.browser.close();
} finally {
  await desk.browser.close();
}
