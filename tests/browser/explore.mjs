// Manual exploration: a desktop and a phone-sized demo participant, a kiosk
// venue; screenshots to /tmp. Usage: node explore.mjs http://127.0.0.1:PORT
import { participant, until } from './lib.mjs';
const base = process.argv[2];
const a = await participant(`${base}/?demo=test`);
await a.page.waitForSelector('#join:not([disabled])');
await a.page.fill('#name', '县政府办');
await a.page.screenshot({ path: '/tmp/prejoin.png' });
await a.page.click('#join');
const phone = await participant(`${base}/?demo=test`, { width: 390, height: 844 });
await phone.page.waitForSelector('#join:not([disabled])');
await phone.page.fill('#name', '李副县长（手机）');
await phone.page.screenshot({ path: '/tmp/phone-prejoin.png' });
await phone.page.click('#join');
const kiosk = await participant(`${base}/?demo=test&kiosk=1`);
await until(a.page, () => document.querySelectorAll('.tile').length >= 3 && [...document.querySelectorAll('.tile video')].every(v => v.videoWidth > 0), null, 30000).catch(e => console.log('wait', e.message));
await phone.page.click('#btn-chat');
await phone.page.fill('#chat-input', '收到，正在参会');
await phone.page.click('#chat-form button');
await new Promise(r => setTimeout(r, 1500));
await a.page.screenshot({ path: '/tmp/meeting.png' });
await phone.page.screenshot({ path: '/tmp/phone.png' });
await kiosk.page.screenshot({ path: '/tmp/kiosk.png' });
for (const p of [a, phone, kiosk]) await p.browser.close();
