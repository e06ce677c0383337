// "Done when" of the chair-control issue, by hand: chair + three venues.
import { participant, until } from './lib.mjs';
const urls = process.argv.slice(2);
const people = [];
for (const url of urls) {
  const p = await participant(url, { width: 1200, height: 760 });
  await p.page.waitForSelector('#join:not([disabled])');
  await p.page.click('#join');
  people.push(p);
}
const [chair, a, b, c] = people;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
await until(chair.page, () => [...document.querySelectorAll('.tile video')].filter(v => v.videoWidth > 0).length >= 4, null, 40000);
await chair.page.click('#btn-console');
await chair.page.click('#btn-mute-all');
// Roll call, automatic, 3 s per venue; venues answer by clicking.
await chair.page.fill('#speech-seconds', '30');
await chair.page.click('#btn-roll-auto');
for (const v of [a, b]) {
  await until(v.page, () => !document.getElementById('roll-dialog').hidden, null, 15000);
  await v.page.click('#roll-answer');
}
await until(chair.page, () => [...document.querySelectorAll('#roll-list li')].every(li => li.dataset.status !== 'calling' && li.dataset.status !== 'waiting'), null, 30000);
await chair.page.screenshot({ path: '/tmp/done-rollcall.png' });
// Broadcast the main venue; a speaking request approved and timed.
await chair.page.click('#btn-broadcast-me');
await b.page.click('#btn-hand');
await until(chair.page, () => document.querySelectorAll('#console-hands li').length === 1);
await chair.page.click('#console-hands li button');
await until(b.page, () => document.getElementById('notices').textContent.includes('轮到您发言'));
await sleep(2000);
await b.page.screenshot({ path: '/tmp/done-venue.png' });
await chair.page.screenshot({ path: '/tmp/done-chair.png' });
console.log(await chair.page.evaluate(() => JSON.stringify(window.huiyi.meetingState.roll_call.entries.map(e => [e.name, e.status]))));
for (const p of people) await p.browser.close();
