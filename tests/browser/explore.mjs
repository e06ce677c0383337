// Manual exploration: two demo participants, screenshots to /tmp.
import { participant, until } from './lib.mjs';
const base = process.argv[2];
const a = await participant(`${base}/?demo=test`);
await a.page.screenshot({ path: '/tmp/prejoin.png' });
await a.page.waitForSelector('#join:not([disabled])');
await a.page.fill('#name', '县政府办');
await a.page.click('#join');
const b = await participant(`${base}/?demo=test`);
await b.page.waitForSelector('#join:not([disabled])');
await b.page.fill('#name', '城关镇');
await b.page.click('#join');
try {
  await until(a.page, () => document.querySelectorAll('.tile').length >= 2 && [...document.querySelectorAll('.tile video')].every(v => v.videoWidth > 0));
} catch (e) { console.log('wait failed', e.message); }
await new Promise(r => setTimeout(r, 2000));
await a.page.screenshot({ path: '/tmp/meeting.png' });
console.log(await a.page.evaluate(() => JSON.stringify({ tiles: document.querySelectorAll('.tile').length, vids: [...document.querySelectorAll('.tile video')].map(v => v.videoWidth), tracks: [...window.huiyi.tracks.values()], media: [...window.huiyi.media.keys()] })));
await a.browser.close(); await b.browser.close();
