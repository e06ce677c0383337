// The camera's simulcast encodings and the per-layer stats reading of
// media.js under Node (its peer connection code needs a browser; these
// parts are pure):
//   node --test web-client/tests/

import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { CAMERA_LAYERS, LOWEST_MAX_BITRATE, MediaSession, RECOVERY, cameraEncodings, candidatePorts, layerBitrate, mediaPath, layerCount, outboundLayers } from '../media.js';

const summary = (encodings) => encodings.map((e) => `${e.rid ?? '-'}/${e.scaleResolutionDownBy ?? 1}@${e.maxBitrate / 1000}k`);

test('the rids are the server\'s, lowest first', () => {
  assert.deepEqual(CAMERA_LAYERS.map((l) => l.rid), ['q', 'h', 'f']);
  assert.deepEqual(CAMERA_LAYERS.map((l) => l.scaleResolutionDownBy), [4, 2, 1]);
});

test('layer count follows Chrome\'s own limit: 3 from 960x540, 2 from 480x270, else 1', () => {
  assert.equal(layerCount(1920 * 1080), 3);
  assert.equal(layerCount(1280 * 720), 3);
  assert.equal(layerCount(960 * 540), 3);
  assert.equal(layerCount(640 * 480), 2);
  assert.equal(layerCount(640 * 360), 2);
  assert.equal(layerCount(480 * 270), 2);
  assert.equal(layerCount(320 * 240), 1);
});

test('the lowest layer is capped for a township line', () => {
  assert.equal(LOWEST_MAX_BITRATE, 100_000);
  for (const [width, height] of [[640, 480], [1280, 720], [1920, 1080]]) {
    assert.ok(cameraEncodings({ width, height })[0].maxBitrate <= LOWEST_MAX_BITRATE, `${width}x${height}`);
  }
});

test('bit rate caps by picture size: 150k at 320x180, 500k at 640x360, 1.5M at 720p', () => {
  assert.equal(layerBitrate(160, 120), 100_000);
  assert.equal(layerBitrate(80, 60), 100_000);
  assert.equal(layerBitrate(320, 180), 150_000);
  assert.equal(layerBitrate(640, 360), 500_000);
  assert.equal(layerBitrate(1280, 720), 1_500_000);
  assert.equal(layerBitrate(1920, 1080), 2_500_000);
  assert.equal(layerBitrate(3840, 2160), 2_500_000);
  // In between: interpolated, monotonic.
  assert.equal(layerBitrate(640, 480), 611_000);
  let last = 0;
  for (const [w, h] of [[160, 120], [320, 180], [320, 240], [640, 360], [640, 480], [960, 540], [1280, 720], [1920, 1080]]) {
    const b = layerBitrate(w, h);
    assert.ok(b >= last, `${w}x${h}`);
    last = b;
  }
});

test('a 720p camera: q/h/f at 320x180 100k (the lowest\'s cap), 640x360 500k, 1280x720 1.5M', () => {
  assert.deepEqual(summary(cameraEncodings({ width: 1280, height: 720 })), ['q/4@100k', 'h/2@500k', 'f/1@1500k']);
  assert.deepEqual(summary(cameraEncodings({ width: 1920, height: 1080 })), ['q/4@100k', 'h/2@917k', 'f/1@2500k']);
});

test('a 640x480 camera: h and f (320x240, 640x480), the lowest capped for a township line', () => {
  const e = cameraEncodings({ width: 640, height: 480 });
  assert.deepEqual(summary(e), [`h/2@${LOWEST_MAX_BITRATE / 1000}k`, 'f/1@611k']);
  assert.deepEqual(summary(cameraEncodings()), summary(e), 'the default is the fake camera\'s 640x480');
  for (const x of e) assert.equal(x.active, true);
});

test('a camera too small for simulcast: one encoding without a rid', () => {
  assert.deepEqual(cameraEncodings({ width: 320, height: 240 }), [{ active: true, maxBitrate: 189_000 }]);
});

test('the scalability mode only when given', () => {
  assert.ok(cameraEncodings({ width: 1280, height: 720 }).every((e) => !('scalabilityMode' in e)));
  assert.ok(cameraEncodings({ width: 1280, height: 720 }, { scalabilityMode: 'L1T3' }).every((e) => e.scalabilityMode === 'L1T3'));
});

test('outboundLayers: the video streams of one m-line, by rid, lowest first', () => {
  const stats = new Map([
    ['o3', { type: 'outbound-rtp', kind: 'video', mid: '1', rid: 'f', frameWidth: 640, frameHeight: 480, framesPerSecond: 20, bytesSent: 9000, framesSent: 90, qualityLimitationReason: 'none', active: true }],
    ['o2', { type: 'outbound-rtp', kind: 'video', mid: '1', rid: 'h', frameWidth: 320, frameHeight: 240, framesPerSecond: 20, bytesSent: 3000, framesSent: 90, qualityLimitationReason: 'bandwidth' }],
    ['o1', { type: 'outbound-rtp', kind: 'audio', mid: '0', bytesSent: 500 }],
    ['o4', { type: 'outbound-rtp', kind: 'video', mid: '2', frameWidth: 1920, frameHeight: 1080 }],
    ['i1', { type: 'inbound-rtp', kind: 'video', mid: '3' }],
  ]);
  const l = outboundLayers(stats, '1');
  assert.deepEqual(l.map((x) => [x.rid, x.width, x.height, x.limitation]), [['h', 320, 240, 'bandwidth'], ['f', 640, 480, 'none']]);
  assert.equal(l[1].bytesSent, 9000);
  assert.equal(l[0].active, null, 'unknown stays null');
  // A sender's own report (no mid needed): every outbound video stream.
  assert.equal(outboundLayers([...stats.values()]).length, 3);
});

test('the server\'s media ports come from its candidates, UDP first', () => {
  const sdp = [
    'v=0', 'm=audio 9 UDP/TLS/RTP/SAVPF 111',
    'a=candidate:1 1 tcp 1518280447 10.1.2.3 40000 typ host tcptype passive',
    'a=candidate:2 1 udp 2130706431 10.1.2.3 40000 typ host',
    'a=candidate:3 1 UDP 2130706431 10.1.2.3 40001 typ host',
    'a=candidate:2 1 udp 2130706431 10.1.2.3 40000 typ host',
  ].join('\r\n');
  assert.deepEqual(candidatePorts(sdp), ['UDP 40000', 'UDP 40001', 'TCP 40000']);
  assert.deepEqual(candidatePorts(''), []);
});

test('a media path that keeps failing is tried a bounded number of times, then reported, never looped', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const sig = new EventTarget();
    sig.send = () => {};
    const session = new MediaSession(sig);
    session.local = {};
    const states = [];
    session.addEventListener('path', (e) => states.push(e.detail.state));
    let tries = 0;
    // Every try fails again at once (the path is blocked).
    session.restart = () => { tries++; session.recover(); };
    session.recover();
    for (let i = 0; i < 20; i++) mock.timers.tick(60_000);
    assert.equal(tries, RECOVERY.length, 'one try per delay');
    assert.equal(states.at(-1), 'failed', 'then the page is told');
    assert.equal(states.filter((s) => s === 'failed').length, 1);
    // The user's button starts over.
    session.retry();
    assert.equal(tries, RECOVERY.length + 1);
    assert.ok(RECOVERY.reduce((a, b) => a + b, 0) <= 60_000, 'gives up within a minute of delays');
  } finally {
    mock.timers.reset();
  }
});

test('the media path is read from the selected candidate pair: UDP, ICE-TCP or the TURN relay', () => {
  const report = (local, viaTransport = true) => new Map([
    ['T', viaTransport ? { type: 'transport', selectedCandidatePairId: 'P' } : { type: 'transport' }],
    ['P', { type: 'candidate-pair', localCandidateId: 'L', nominated: true, state: 'succeeded', selected: !viaTransport }],
    ['L', { type: 'local-candidate', ...local }],
  ]);
  assert.equal(mediaPath(report({ candidateType: 'host', protocol: 'udp' })), 'udp');
  assert.equal(mediaPath(report({ candidateType: 'prflx', protocol: 'tcp' })), 'tcp');
  assert.equal(mediaPath(report({ candidateType: 'relay', protocol: 'udp', relayProtocol: 'tls' })), 'turn');
  assert.equal(mediaPath(report({ candidateType: 'host', protocol: 'TCP' }, false)), 'tcp', 'Firefox: the pair says selected');
  assert.equal(mediaPath(new Map()), null);
});
