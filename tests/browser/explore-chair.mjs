// Manual exploration of chair control: node explore-chair.mjs LINK1 LINK2 LINK3
import { participant, until } from './lib.mjs';
const [chairUrl, aUrl, bUrl] = process.argv.slice(2);
const people = [];
for (const url of [chairUrl, aUrl, bUrl]) {
  const p = await participant(url, { width: 1200, height: 760 });
  await p.page.waitForSelector('#join:not([disabled])');
  await p.page.click('#join');
  people.push(p);
}
const [chair, a, b] = people;
await until(chair.page, () => [...document.querySelectorAll('.tile video')].filter(v => v.videoWidth > 0).length >= 3, null, 30000);
await chair.page.click('#btn-console');
await chair.page.click('#btn-mute-all');
await a.page.waitForSelector('#notices:not([hidden])');
await a.page.click('#btn-hand');
await until(chair.page, () => document.querySelectorAll('#console-hands li').length === 1);
await chair.page.screenshot({ path: '/tmp/chair-hand.png' });
await chair.page.click('#console-hands li button');
await until(a.page, () => document.getElementById('notices').textContent.includes('轮到您发言'));
await chair.page.click('#btn-broadcast-me');
await new Promise(r => setTimeout(r, 2500));
await a.page.screenshot({ path: '/tmp/venue-floor.png' });
await chair.page.screenshot({ path: '/tmp/chair-console.png' });
for (const p of people) await p.browser.close();
