// Manual exploration of the live feed in the console: the secretary
// schedules a meeting, a venue joins it from a page (fake camera), the
// secretary goes live through the API and looks at the meeting's page in
// the console (its viewer links), then fetches the playlist.
// Usage: node explore-live.mjs http://127.0.0.1:PORT USER PASSWORD
// (a secretary made with `huiyi admin create`); screenshots to /tmp.
import { participant, until } from './lib.mjs';
const [base, user, given] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const con = await participant(`${base}/console`, { width: 1280, height: 1000 });
const api = (path, method = 'GET', body) => con.page.evaluate(async ([path, method, body]) => {
  const r = await fetch(path, { method, headers: { 'Content-Type': 'application/json' }, body: body && JSON.stringify(body) });
  return { status: r.status, body: await r.json().catch(() => null) };
}, [path, method, body]);
console.log(await api('/api/v1/login', 'POST', { username: user, password: given }));
console.log(await api('/api/v1/me/password', 'POST', { old: given, new: 'A-long-password-1' }));
console.log(await api('/api/v1/login', 'POST', { username: user, password: 'A-long-password-1' }));
const pad = (n) => String(n).padStart(2, '0');
const at = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:00`;
const now = new Date(Date.now() + 8 * 3600_000 + new Date().getTimezoneOffset() * 60_000);
const m = await api('/api/v1/meetings', 'POST', { title: '嘉宾网谈：优化营商环境', start: at(new Date(now.getTime() + 10 * 60_000)), end: at(new Date(now.getTime() + 70 * 60_000)) });
const id = m.body.id;
const join = await api(`/api/v1/meetings/${id}/join`);
const venue = await participant(join.body.link);
await venue.page.waitForSelector('#join:not([disabled])');
await venue.page.click('#join');
await sleep(3000);
console.log('live on:', await api(`/api/v1/meetings/${id}/live`, 'POST', { on: true }));
await until(venue.page, () => document.getElementById('live-badge')?.hidden === false, null, 20000);
await sleep(1000);
await venue.page.screenshot({ path: '/tmp/live-meeting.png' });
await sleep(8000);
const live = await api(`/api/v1/meetings/${id}/live`);
console.log('live:', live);
const playlist = await con.page.evaluate(async (p) => (await fetch(p)).text(), live.body.playlist);
console.log(playlist);
await con.page.goto(`${base}/console#/meeting/${id}`);
await sleep(1000);
if (await con.page.isVisible('#login-form')) {
  await con.page.fill('#login-username', user);
  await con.page.fill('#login-password', 'A-long-password-1');
  await con.page.click('#login-submit');
  await sleep(1500);
  await con.page.goto(`${base}/console#/meeting/${id}`);
}
await sleep(2500);
await until(con.page, () => document.getElementById('d-onair')?.hidden === false, null, 10000);
await con.page.screenshot({ path: '/tmp/live-console.png', fullPage: true });
console.log('live off:', await api(`/api/v1/meetings/${id}/live`, 'POST', { on: false }));
await venue.browser.close();
await con.browser.close();
