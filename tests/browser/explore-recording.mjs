// Manual exploration of recordings in the console: the secretary schedules
// a meeting with 自动录制, joins it from a page (fake camera), stops the
// recording, composes it, and looks at the meeting's page in the console.
// Usage: node explore-recording.mjs http://127.0.0.1:PORT USER PASSWORD
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
const pad = (n) => String(n).padStart(2, '0');
const at = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:00`;
const now = new Date(Date.now() + 8 * 3600_000 + new Date().getTimezoneOffset() * 60_000);
const m = await api('/api/v1/meetings', 'POST', { title: '全县安全生产工作会议', start: at(new Date(now.getTime() + 10 * 60_000)), end: at(new Date(now.getTime() + 70 * 60_000)), record: true });
console.log(m.status, m.body?.id, m.body?.record);
const id = m.body.id;
const join = await api(`/api/v1/meetings/${id}/join`);
const venue = await participant(join.body.link);
await venue.page.waitForSelector('#join:not([disabled])');
await venue.page.click('#join');
await until(venue.page, () => document.getElementById('rec-badge')?.hidden === false, null, 20000);
await sleep(8000);
await venue.page.screenshot({ path: '/tmp/rec-meeting.png' });
console.log(await api(`/api/v1/meetings/${id}/recording`, 'POST', { on: false }));
await sleep(2000);
const list = await api(`/api/v1/meetings/${id}/recordings`);
const rec = list.body.recordings[0];
console.log(rec.state, rec.duration_ms, rec.tracks.length);
console.log(await api(`/api/v1/recordings/${rec.id}/compose`, 'POST'));
await con.page.goto(`${base}/console#/meeting/${id}`);
await sleep(1500);
await con.page.screenshot({ path: '/tmp/rec-console-composing.png', fullPage: true });
for (let i = 0; i < 60; i++) {
  const r = (await api(`/api/v1/meetings/${id}/recordings`)).body.recordings[0];
  if (r.composite?.state !== 'composing') { console.log('composite', r.composite); break; }
  await sleep(1000);
}
await con.page.reload();
await sleep(2000);
await con.page.click('#rec-list button');
await sleep(2000);
await con.page.screenshot({ path: '/tmp/rec-console.png', fullPage: true });
await venue.browser.close();
await con.browser.close();
