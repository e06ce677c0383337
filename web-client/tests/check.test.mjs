// The pre-join media check's advice (check.js): which ports a venue whose
// network lets no media through should ask its administrator for.
//   node --test web-client/tests/

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { portAdvice, portRanges, turnPort } from '../check.js';

test('consecutive ports read as ranges', () => {
  assert.equal(portRanges([40001, 40000]), '40000–40001');
  assert.equal(portRanges([40000, 40001, 40003, 40003]), '40000–40001、40003');
  assert.equal(portRanges([443]), '443');
  assert.equal(portRanges([]), '');
  assert.equal(portRanges([0, -1, 'x', 3478]), '3478');
});

test('a TURN URL names its port, or the protocol default', () => {
  assert.equal(turnPort('turns:turn.county.gov.cn:443?transport=tcp'), 443);
  assert.equal(turnPort('turn:10.1.2.3:3478?transport=udp'), 3478);
  assert.equal(turnPort('turn:relay.example'), 3478);
  assert.equal(turnPort('turns:relay.example'), 5349);
  assert.equal(turnPort('turns:[fd00::1]:443'), 443);
  assert.equal(turnPort('https://x'), null);
});

test('the advice names the UDP media ports and, for TCP, the relay when there is one', () => {
  const paths = { udp_ports: [40000, 40001], tcp_ports: [40000, 40001], turn: [] };
  assert.equal(portAdvice(paths), 'UDP 40000–40001 或 TCP 40000–40001');
  const relayed = { ...paths, turn: ['turns:turn.example:443?transport=tcp', 'turn:turn.example:3478'] };
  assert.equal(portAdvice(relayed), 'UDP 40000–40001 或 TCP 443、3478');
  assert.equal(portAdvice({ udp_ports: [40000], tcp_ports: [] }, 'or'), 'UDP 40000');
  assert.equal(portAdvice(undefined), '');
});
