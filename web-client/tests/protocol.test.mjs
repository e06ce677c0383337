// The signaling socket's reconnect schedule (protocol.js): quick while a
// server restarts, never a tight loop, slower once the outage is long.
//   node --test web-client/tests/

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { retryDelay } from '../protocol.js';

const range = (n, outage) => {
  const seen = Array.from({ length: 200 }, () => retryDelay(n, outage));
  return [Math.min(...seen), Math.max(...seen)];
};

test('the first attempts come quickly, then every 1.5 s at most during the first minute', () => {
  const [lo0, hi0] = range(0, 0);
  assert.ok(lo0 >= 200 && hi0 <= 300, `first: ${lo0}–${hi0} ms`);
  // After a restart of a few seconds the next attempt is never far away:
  // 0.25 + 0.5 + 1 + 1.5 + 1.5 … s (± 20 %).
  for (const n of [3, 4, 10, 50]) {
    const [lo, hi] = range(n, 20000);
    assert.ok(lo >= 1200 && hi <= 1800, `attempt ${n}: ${lo}–${hi} ms`);
  }
  let t = 0;
  let n = 0;
  while (t < 10000) t += retryDelay(n++, t);
  assert.ok(n >= 7, `at least 7 attempts in the first 10 s (${n})`);
});

test('a long outage is retried every 5 s, spread by jitter', () => {
  const [lo, hi] = range(20, 120000);
  assert.ok(lo >= 4000 && hi <= 6000, `${lo}–${hi} ms`);
  assert.ok(hi - lo > 500, 'venues do not all retry in step');
});
