// The media side: one RTCPeerConnection to the Huiyi server. The client
// offers what it publishes ('publish'); the server offers what it receives
// ('offer' → 'answer'). The server's host candidates (UDP, then ICE-TCP)
// and, where the server has one, its TURN relay (`iceServers` from the
// welcome, credentials valid for hours); no STUN, nothing outside the
// intranet.

import { msg } from './model.js';

/// Events: 'track' {trackId, track, stream}, 'trackended' {trackId},
/// 'quality' {level}, 'restarted' (the answer to a publish with `restart`:
/// a new media session at the server), 'path' {state: 'connected' |
/// 'retrying' | 'failed', attempt, ports} (the media path: see RECOVERY).
export class MediaSession extends EventTarget {
  constructor(signaling) {
    super();
    this.sig = signaling;
    this.pc = null;
    this.midToTrack = new Map();
    this.sources = new Map(); // transceiver → 'microphone' | 'camera' | 'screen'
    this.publishing = null; // promise of the answer to our offer
    this.offers = []; // server offers waiting for a stable state
    this.busy = false;
    this.local = null;
    this.screen = null;
    this.lastQuality = null;
    this.iceServers = []; // the welcome's ice_servers (TURN), if any
    this.sig.addEventListener('answer', (e) => this.onAnswer(e.detail));
    // A server offer that arrives while our publish is unanswered was
    // withdrawn (glare, ADR 0002): the server answers us, then offers anew.
    this.sig.addEventListener('offer', (e) => {
      if (this.pendingAnswer) return;
      this.offers.push(e.detail);
      this.drain();
    });
    this.sig.addEventListener('error', (e) => {
      // (The refusals a publish can get; `forbidden` is left out: it may
      // answer another request, and an observer's client does not publish.)
      if (['bad_sdp', 'too_large'].includes(e.detail.code) && this.pendingAnswer) {
        const { reject } = this.pendingAnswer;
        this.pendingAnswer = null;
        reject(new Error(e.detail.message));
      }
    });
  }

  newPeerConnection() {
    this.pc?.close();
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    this.pc = pc;
    this.midToTrack.clear();
    pc.ontrack = (ev) => {
      const mid = ev.transceiver.mid;
      const trackId = this.midToTrack.get(mid);
      const stream = ev.streams[0] || new MediaStream([ev.track]);
      this.dispatchEvent(new CustomEvent('track', { detail: { trackId, mid, track: ev.track, stream } }));
      ev.track.onended = () => this.dispatchEvent(new CustomEvent('trackended', { detail: { trackId, mid } }));
    };
    pc.oniceconnectionstatechange = () => {
      if (pc !== this.pc) return;
      const s = pc.iceConnectionState;
      if (s === 'connected' || s === 'completed') {
        this.failures = 0;
        this.dispatchEvent(new CustomEvent('path', { detail: { state: 'connected' } }));
      }
      if (s === 'failed') this.recover();
    };
    return pc;
  }

  /// The meeting's video codec ('vp8' or 'h264', from the welcome and
  /// `meeting_state.video_codec`): camera and screen are sent in it. VP8
  /// needs nothing; H.264 (a participant that decodes nothing else has
  /// joined) restricts the video m-lines to H.264. An m-line keeps the
  /// codecs it was first negotiated with at the server, so a change while
  /// publishing takes a new connection (a second or two without video).
  async setVideoCodec(codec) {
    const want = codec === 'h264' ? 'video/H264' : null;
    if (this.videoCodec === want) return;
    this.videoCodec = want;
    const video = [...this.sources].some(([tr, source]) => source !== 'microphone' && !tr.stopped);
    if (this.pc && want && video) await this.rebuild();
  }

  /// The server's `layers`: send only the simulcast encodings named in
  /// `rids` on m-line `mid` (nobody receives the others now); the browser
  /// stops encoding the rest, and starts again when they are named.
  async setActiveLayers(mid, rids) {
    const tr = this.pc?.getTransceivers().find((t) => t.mid === mid && !t.stopped);
    if (!tr?.sender) return;
    const p = tr.sender.getParameters();
    let changed = false;
    for (const e of p.encodings || []) {
      if (!e.rid) continue;
      const active = rids.includes(e.rid);
      if (e.active !== active) { e.active = active; changed = true; }
    }
    if (!changed) return;
    try {
      await tr.sender.setParameters(p);
    } catch (e) {
      console.warn('huiyi: could not change the active layers', e?.name, e?.message);
    }
  }

  /// Starts publishing `stream` (its audio and video tracks).
  async start(stream, restart = false) {
    this.local = stream;
    const pc = this.newPeerConnection();
    this.sources = new Map();
    for (const track of stream.getTracks()) {
      const tr = track.kind === 'video' ? addCamera(pc, track, stream)
        : pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      if (track.kind === 'video' && this.videoCodec) preferCodec(tr, this.videoCodec);
      this.sources.set(tr, track.kind === 'audio' ? 'microphone' : 'camera');
    }
    if (stream.getTracks().length === 0) pc.addTransceiver('audio', { direction: 'recvonly' });
    await this.publish(restart);
    this.startStats();
  }

  /// The media path failed: try again after the next RECOVERY delay, or,
  /// once they are used up, stop and say so ('path' failed, with the
  /// server's media ports for the message); `retry()` starts over.
  recover() {
    if (!this.local || this.restarting || this.recoveryTimer) return;
    const delay = RECOVERY[this.failures ?? 0];
    this.failures = (this.failures ?? 0) + 1;
    if (delay === undefined) {
      this.dispatchEvent(new CustomEvent('path', { detail: { state: 'failed', attempt: this.failures - 1, ports: mediaPorts(this.pc) } }));
      return;
    }
    this.dispatchEvent(new CustomEvent('path', { detail: { state: 'retrying', attempt: this.failures } }));
    this.recoveryTimer = setTimeout(() => { this.recoveryTimer = null; this.restart(); }, delay);
  }

  /// The user asked to try again after the recovery gave up.
  retry() {
    this.failures = 0;
    clearTimeout(this.recoveryTimer);
    this.recoveryTimer = null;
    this.restart();
  }

  /// The media path failed. First an ICE restart on the same connection (the
  /// server keeps its session); if that does not reconnect within 8 s, a new
  /// peer connection and a new media session at the server.
  async restart() {
    if (!this.local || this.restarting) return;
    this.restarting = true;
    try {
      const pc = this.pc;
      pc.restartIce();
      await this.publish(false);
      const ok = await new Promise((resolve) => {
        const done = () => ['connected', 'completed'].includes(pc.iceConnectionState);
        if (done()) return resolve(true);
        const timer = setTimeout(() => resolve(done()), 8000);
        pc.addEventListener('iceconnectionstatechange', () => { if (done()) { clearTimeout(timer); resolve(true); } });
      });
      if (ok && pc === this.pc) return;
    } catch (e) {
      console.warn('huiyi: ICE restart failed', e);
    } finally {
      this.restarting = false;
    }
    await this.rebuild();
    // A new connection that cannot connect either ends 'failed' (→ recover).
  }

  /// A new peer connection and a new media session at the server.
  async rebuild() {
    if (this.restarting) return;
    this.restarting = true;
    try {
      const screen = this.screen;
      await this.start(this.local, true);
      if (screen) await this.addScreen(screen);
    } catch (e) {
      console.warn('huiyi: a new media connection failed', e);
      this.restarting = false;
      this.recover();
    } finally {
      this.restarting = false;
    }
  }

  /// Sends our offer and applies the answer.
  async publish(restart = false) {
    await this.exclusive(async () => {
      const pc = this.pc;
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      const tracks = [];
      for (const [tr, source] of this.sources) {
        if (tr.mid !== null && !tr.stopped && tr.currentDirection !== 'stopped') tracks.push({ mid: tr.mid, source });
      }
      const answered = new Promise((resolve, reject) => { this.pendingAnswer = { resolve, reject }; });
      this.offers = []; // any offer not applied yet is withdrawn by this publish
      this.sig.send(msg.publish(pc.localDescription.sdp, tracks, restart));
      const answer = await answered;
      // Everything the server said after this answer is of the new session.
      if (restart) this.dispatchEvent(new CustomEvent('restarted'));
      if (pc !== this.pc) return;
      await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
      for (const [tr, source] of this.sources) if (source === 'camera' && !tr.stopped) await singleLayerFallback(tr.sender);
    });
  }

  onAnswer(answer) {
    if (this.pendingAnswer) {
      const { resolve } = this.pendingAnswer;
      this.pendingAnswer = null;
      resolve(answer);
    }
  }

  /// Runs negotiation steps one at a time; server offers wait in between.
  async exclusive(fn) {
    while (this.busy) await new Promise((r) => setTimeout(r, 20));
    this.busy = true;
    try { await fn(); } finally { this.busy = false; this.drain(); }
  }

  async drain() {
    if (this.busy || !this.pc || this.offers.length === 0) return;
    const offer = this.offers.shift();
    await this.exclusive(async () => {
      const pc = this.pc;
      for (const t of offer.tracks) this.midToTrack.set(t.mid, t.track);
      await pc.setRemoteDescription({ type: 'offer', sdp: offer.sdp });
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      this.sig.send(msg.answer(offer.offer_id, pc.localDescription.sdp));
    });
  }

  trackIdOfMid(mid) { return this.midToTrack.get(mid); }

  /// What the camera sends now, one entry per encoding (support, tests):
  /// see `outboundLayers`.
  async cameraLayers() {
    const tr = [...this.sources].find(([, source]) => source === 'camera')?.[0];
    if (!this.pc || !tr || tr.stopped) return [];
    return outboundLayers(await tr.sender.getStats());
  }

  async addScreen(stream) {
    this.screen = stream;
    const [track] = stream.getVideoTracks();
    // Text on a shared screen must stay legible: under load the browser
    // lowers the frame rate, not the resolution.
    track.contentHint = 'detail';
    const tr = this.pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    if (this.videoCodec) preferCodec(tr, this.videoCodec);
    // Firefox has no contentHint; its sender takes the same preference.
    if (globalThis.MediaStreamTrack && !('contentHint' in MediaStreamTrack.prototype)) await keepResolution(tr.sender);
    this.sources.set(tr, 'screen');
    track.addEventListener('ended', () => this.removeScreen());
    await this.publish();
  }

  async removeScreen() {
    if (!this.screen) return;
    for (const t of this.screen.getTracks()) t.stop();
    this.screen = null;
    for (const [tr, source] of this.sources) {
      if (source === 'screen') {
        tr.stop();
        this.sources.delete(tr);
      }
    }
    await this.publish();
  }

  /// Every 2 s: round-trip time and loss → a quality level 0–3 for the others.
  startStats() {
    clearInterval(this.statsTimer);
    this.statsTimer = setInterval(async () => {
      if (!this.pc) return;
      const stats = await this.pc.getStats();
      const path = mediaPath(stats);
      if (path !== this.path) {
        this.path = path;
        this.dispatchEvent(new CustomEvent('quality', { detail: { level: this.lastQuality, path } }));
      }
      let rtt = null; let lost = 0; let got = 0;
      stats.forEach((s) => {
        if (s.type === 'candidate-pair' && s.nominated && s.currentRoundTripTime != null) rtt = s.currentRoundTripTime;
        if (s.type === 'inbound-rtp') { lost += s.packetsLost || 0; got += s.packetsReceived || 0; }
      });
      const lossRate = got + lost > 0 ? lost / (got + lost) : 0;
      let level = 3;
      if (rtt !== null && rtt > 0.3) level--;
      if (lossRate > 0.02) level--;
      if (lossRate > 0.08 || (rtt !== null && rtt > 0.8)) level--;
      if (this.pc.iceConnectionState !== 'connected' && this.pc.iceConnectionState !== 'completed') level = 0;
      if (level !== this.lastQuality) {
        this.lastQuality = level;
        this.sig.send(msg.quality(level));
        this.dispatchEvent(new CustomEvent('quality', { detail: { level } }));
      }
    }, 2000);
  }

  close() {
    clearInterval(this.statsTimer);
    clearTimeout(this.recoveryTimer);
    this.recoveryTimer = null;
    this.pc?.close();
    this.pc = null;
  }
}

// ---------- the meeting's video codec ----------

/// Restricts video transceiver `tr` to `mime` (with its repair formats:
/// rtx, red, ulpfec); true if the browser took it. The server forwards, it
/// does not transcode: every publisher must send what every receiver decodes.
export function preferCodec(tr, mime) {
  try {
    const caps = globalThis.RTCRtpSender?.getCapabilities?.('video')?.codecs || [];
    const repair = /\/(rtx|red|ulpfec|flexfec-03)$/i;
    const list = [...caps.filter((c) => c.mimeType.toLowerCase() === mime.toLowerCase()), ...caps.filter((c) => repair.test(c.mimeType))];
    if (!list.some((c) => !repair.test(c.mimeType))) return false;
    tr.setCodecPreferences(list);
    return true;
  } catch (e) {
    console.warn('huiyi: codec preference refused', e?.name, e?.message);
    return false;
  }
}

// ---------- the media path ----------

/// Which way the media goes, from a getStats() report: 'udp', 'tcp'
/// (ICE-TCP straight to the server) or 'turn' (through the relay), or null
/// before a path is chosen. Pure.
export function mediaPath(stats) {
  let pair = null;
  stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId); });
  // Firefox marks the pair instead of naming it on the transport.
  if (!pair) stats.forEach((s) => { if (s.type === 'candidate-pair' && (s.selected || (s.nominated && s.state === 'succeeded'))) pair = s; });
  const local = pair && stats.get(pair.localCandidateId);
  if (!local) return null;
  if (local.candidateType === 'relay') return 'turn';
  return String(local.protocol).toLowerCase() === 'tcp' ? 'tcp' : 'udp';
}

// ---------- recovery of the media path ----------

/// Delays (ms) before each new try after the media path failed: an ICE
/// restart, then (8 s without success) a new peer connection. Five tries
/// within about a minute and a half (37 s of delays, up to 8 s per ICE
/// restart and the browser's own time to declare a path failed), then the page says the path is blocked
/// and offers a button; never a loop (Firefox once renegotiated 275 times
/// in 25 s).
export const RECOVERY = Object.freeze([0, 2000, 5000, 10_000, 20_000]);

/// The server's media ports, as its candidates in the remote description
/// say: e.g. ['UDP 40000', 'TCP 40000'] (for the message when none works).
export function mediaPorts(pc) {
  const sdp = pc?.remoteDescription?.sdp || pc?.currentRemoteDescription?.sdp || '';
  return candidatePorts(sdp);
}

/// Pure: the transports and ports of an SDP's candidates, unique, UDP first.
export function candidatePorts(sdp) {
  const out = new Set();
  for (const line of sdp.split(/\r?\n/)) {
    const m = /^a=candidate:\S+ \d+ (\w+) \d+ \S+ (\d+) typ/i.exec(line);
    if (m) out.add(`${m[1].toUpperCase()} ${m[2]}`);
  }
  return [...out].sort((a, b) => (a.startsWith('UDP') ? 0 : 1) - (b.startsWith('UDP') ? 0 : 1));
}

// ---------- the camera's simulcast layers ----------

/// The camera's layers, lowest first, named by the rids the server knows
/// (q quarter, h half, f full resolution). Lowest first also because a
/// browser that gets an answer without simulcast keeps only the first
/// encoding (`singleLayerFallback` then restores full resolution).
export const CAMERA_LAYERS = Object.freeze([
  Object.freeze({ rid: 'q', scaleResolutionDownBy: 4 }),
  Object.freeze({ rid: 'h', scaleResolutionDownBy: 2 }),
  Object.freeze({ rid: 'f', scaleResolutionDownBy: 1 }),
]);

/// How many layers a camera of `px` pixels gets: Chrome's own limit (its
/// simulcast table: 3 from 960×540, 2 from 480×270, else 1), which it
/// applies by dropping the *top* encodings. Asking a 640×480 camera for
/// q/h/f gave 160×120 and 320×240 and no full layer at all (Chromium 156);
/// asked for h/f it sends 320×240 and 640×480.
export function layerCount(px) {
  if (px >= 960 * 540) return 3;
  if (px >= 480 * 270) return 2;
  return 1;
}

/// Bit rate caps by picture size (pixels → bit/s), interpolated between:
/// 320×180 150k, 640×360 500k, 1280×720 1.5M, with 160×120 at 100k and
/// 1080p at 2.5M. Near Chrome's own simulcast table but lower at the top:
/// county lines are shared by every venue of a township, and a meeting
/// camera (people at a table) needs no more. The lowest layer has its own
/// cap (LOWEST_MAX_BITRATE).
const BITRATES = [[19200, 100_000], [57600, 150_000], [230400, 500_000], [921600, 1_500_000], [2073600, 2_500_000]];
/// The lowest layer's cap whatever its size: with audio it must fit what
/// the server's estimate leaves of a 300 kbit/s township line with 5 % loss
/// (about half of it). In the weak-link scenario a 150k lowest layer kept
/// the speaker's video paused at the township venue all the time; 100k
/// gave it 12.6 fps (tests/browser/weaklink.test.mjs).
export const LOWEST_MAX_BITRATE = 100_000;

export function layerBitrate(width, height) {
  const px = width * height;
  if (px <= BITRATES[0][0]) return BITRATES[0][1];
  for (let i = 1; i < BITRATES.length; i++) {
    const [p1, b1] = BITRATES[i];
    if (px <= p1) {
      const [p0, b0] = BITRATES[i - 1];
      return Math.round((b0 + ((b1 - b0) * (px - p0)) / (p1 - p0)) / 1000) * 1000;
    }
  }
  return BITRATES.at(-1)[1];
}

/// The camera's `sendEncodings` for a camera of `width`×`height` (its
/// getSettings()): the top `layerCount` layers of CAMERA_LAYERS, each with
/// its bit rate cap (a camera too small for simulcast: one encoding, no
/// rid); `scalabilityMode` (e.g. 'L1T3': three temporal layers, so a layer
/// can also be thinned in frame rate) only when given, i.e. when the
/// browser says it supports it.
export function cameraEncodings({ width = 640, height = 480 } = {}, { scalabilityMode = null } = {}) {
  const n = layerCount(width * height);
  if (n === 1) return [{ active: true, maxBitrate: layerBitrate(width, height) }];
  return CAMERA_LAYERS.slice(-n).map(({ rid, scaleResolutionDownBy }, i) => {
    const cap = layerBitrate(Math.round(width / scaleResolutionDownBy), Math.round(height / scaleResolutionDownBy));
    const e = { rid, active: true, scaleResolutionDownBy, maxBitrate: i === 0 ? Math.min(cap, LOWEST_MAX_BITRATE) : cap };
    if (scalabilityMode) e.scalabilityMode = scalabilityMode;
    return e;
  });
}

/// 'L1T3' where the browser lists it for VP8 (Chrome), else null (Firefox
/// lists no scalability modes; one stream per layer is fine there).
function scalabilityMode() {
  try {
    const codecs = globalThis.RTCRtpSender?.getCapabilities?.('video')?.codecs || [];
    return codecs.some((c) => /vp8/i.test(c.mimeType) && c.scalabilityModes?.includes('L1T3')) ? 'L1T3' : null;
  } catch { return null; }
}

/// Adds the camera as simulcast; a browser that refuses the encodings
/// (with the scalability mode, or at all) sends it as one stream.
function addCamera(pc, track, stream) {
  const settings = track.getSettings?.() || {};
  const mode = scalabilityMode();
  const tries = [cameraEncodings(settings, { scalabilityMode: mode })];
  if (mode) tries.push(cameraEncodings(settings));
  for (const sendEncodings of tries) {
    try {
      return pc.addTransceiver(track, { direction: 'sendonly', streams: [stream], sendEncodings });
    } catch (e) {
      console.warn('huiyi: camera encodings refused', e?.name, e?.message);
    }
  }
  return pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
}

/// A shared screen's sender lowers its frame rate, not its resolution, when
/// short of bandwidth or CPU (what contentHint 'detail' means where it exists).
async function keepResolution(sender) {
  try {
    const p = sender.getParameters();
    p.degradationPreference = 'maintain-resolution';
    await sender.setParameters(p);
  } catch (e) {
    console.warn('huiyi: the screen\'s degradation preference was refused', e?.name, e?.message);
  }
}

/// After an answer: if the browser kept only one of the camera's encodings
/// (the answer refused simulcast), that one is the quarter layer; send it at
/// full resolution and the full layer's rate instead.
async function singleLayerFallback(sender) {
  const p = sender.getParameters();
  if (p.encodings?.length !== 1 || !p.encodings[0].scaleResolutionDownBy || p.encodings[0].scaleResolutionDownBy === 1) return;
  const full = cameraEncodings(sender.track?.getSettings?.() || {}).at(-1);
  p.encodings[0].scaleResolutionDownBy = 1;
  p.encodings[0].maxBitrate = full.maxBitrate;
  try {
    await sender.setParameters(p);
    console.warn('huiyi: simulcast not accepted; the camera is sent as one stream');
  } catch (e) {
    console.warn('huiyi: could not restore the single camera stream', e?.name, e?.message);
  }
}

/// The outbound video streams in a getStats() report (a sender's, or of
/// m-line `mid`), one per encoding, lowest rid first: {rid, width, height,
/// fps, bytesSent, framesSent, limitation, active, encoder,
/// scalabilityMode}. Pure (a Map or an array of stats).
export function outboundLayers(stats, mid = null) {
  const order = CAMERA_LAYERS.map((l) => l.rid);
  const out = [];
  stats.forEach((s) => {
    if (s.type !== 'outbound-rtp' || s.kind !== 'video' || (mid !== null && s.mid !== mid)) return;
    out.push({
      rid: s.rid ?? null, width: s.frameWidth ?? 0, height: s.frameHeight ?? 0, fps: s.framesPerSecond ?? 0,
      bytesSent: s.bytesSent ?? 0, framesSent: s.framesSent ?? 0, limitation: s.qualityLimitationReason ?? null,
      active: s.active ?? null, encoder: s.encoderImplementation ?? null, scalabilityMode: s.scalabilityMode ?? null,
    });
  });
  return out.sort((a, b) => order.indexOf(a.rid) - order.indexOf(b.rid));
}
