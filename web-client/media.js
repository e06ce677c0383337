// The media side: one RTCPeerConnection to the Huiyi server. The client
// offers what it publishes ('publish'); the server offers what it receives
// ('offer' → 'answer'). Only the server's host candidates are used: no STUN,
// no TURN, nothing outside the intranet.

import { msg } from './model.js';

/// Events: 'track' {trackId, track, stream}, 'trackended' {trackId},
/// 'quality' {level}, 'failed'.
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
    this.sig.addEventListener('answer', (e) => this.onAnswer(e.detail));
    // A server offer that arrives while our publish is unanswered was
    // withdrawn (glare, ADR 0002): the server answers us, then offers anew.
    this.sig.addEventListener('offer', (e) => {
      if (this.pendingAnswer) return;
      this.offers.push(e.detail);
      this.drain();
    });
    this.sig.addEventListener('error', (e) => {
      if (e.detail.code === 'bad_sdp' && this.pendingAnswer) {
        const { reject } = this.pendingAnswer;
        this.pendingAnswer = null;
        reject(new Error(e.detail.message));
      }
    });
  }

  newPeerConnection() {
    this.pc?.close();
    const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
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
      if (pc.iceConnectionState === 'failed') this.restart();
    };
    return pc;
  }

  /// Starts publishing `stream` (its audio and video tracks).
  async start(stream, restart = false) {
    this.local = stream;
    const pc = this.newPeerConnection();
    this.sources = new Map();
    for (const track of stream.getTracks()) {
      const tr = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      this.sources.set(tr, track.kind === 'audio' ? 'microphone' : 'camera');
    }
    if (stream.getTracks().length === 0) pc.addTransceiver('audio', { direction: 'recvonly' });
    await this.publish(restart);
    this.startStats();
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
      this.dispatchEvent(new CustomEvent('failed', { detail: e }));
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
      if (pc === this.pc) await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
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

  async addScreen(stream) {
    this.screen = stream;
    const [track] = stream.getVideoTracks();
    // Text on a shared screen must stay legible: under load the browser
    // lowers the frame rate, not the resolution.
    track.contentHint = 'detail';
    const tr = this.pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
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
    this.pc?.close();
    this.pc = null;
  }
}
