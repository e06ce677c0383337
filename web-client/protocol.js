// The signaling connection: protocol v1 over WebSocket (docs/protocol.md).
// DOM-free: it carries messages, reconnects and resumes, nothing of the UI.
// The messages themselves (builders) and the meeting state they describe
// are model.js.

import { msg as build, FINAL_CLOSE_CODES } from './model.js';

export { PROTOCOL_VERSION } from './model.js';

/// Milliseconds before reconnect attempt `n` (0, 1, …), `outage` ms after
/// the socket was lost: quick while the outage is young (a server restart
/// takes a few seconds, and each second waited after it is back is a second
/// of the meeting lost), every 1.5 s at most for the first minute, then every
/// 5 s. ±20 % jitter keeps a county's venues from arriving in one burst.
export function retryDelay(n, outage) {
  const cap = outage < 60000 ? 1500 : 5000;
  const base = Math.min(cap, 250 * 2 ** Math.min(n, 10));
  return Math.round(base * (0.8 + 0.4 * Math.random()));
}

/// Events: 'state' {state: connecting|open|reconnecting|closed, code, reason},
/// 'welcome' (the welcome message), and one event per server message type
/// (detail = the message).
export class Signaling extends EventTarget {
  constructor(url, hello) {
    super();
    this.url = url;
    this.hello = hello; // {token} or {demo_meeting, name}
    this.session = null; // resume key from the last welcome
    this.ws = null;
    this.state = 'idle';
    this.closedByUs = false;
    this.retry = 0;
    this.lostAt = null; // when the socket was lost, until a welcome
    this.queue = [];
  }

  connect() {
    this.closedByUs = false;
    this.setState(this.session ? 'reconnecting' : 'connecting');
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify(build.hello(this.hello, this.session)));
    };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg.type === 'welcome') {
        this.session = msg.session;
        this.retry = 0;
        this.lostAt = null;
        this.setState('open');
        const queued = this.queue.splice(0);
        for (const m of queued) this.send(m);
        this.dispatchEvent(new CustomEvent('welcome', { detail: msg }));
        return;
      }
      this.dispatchEvent(new CustomEvent(msg.type, { detail: msg }));
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      // Final: we left, the server refused us (policy), or we were replaced.
      const final = this.closedByUs || FINAL_CLOSE_CODES.includes(ev.code);
      if (final) {
        this.retry = 0;
        this.lostAt = null;
        this.setState('closed', ev.code, ev.reason);
        return;
      }
      this.setState('reconnecting', ev.code, ev.reason);
      this.lostAt ??= Date.now();
      setTimeout(() => { if (!this.closedByUs) this.connect(); }, retryDelay(this.retry++, Date.now() - this.lostAt));
    };
  }

  /// Sends a message now, or once reconnected.
  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.state === 'open') {
      this.ws.send(JSON.stringify(msg));
    } else if (msg.type !== 'ping') {
      this.queue.push(msg);
    }
  }

  leave() {
    this.closedByUs = true;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(build.leave()));
    setTimeout(() => this.ws?.close(1000), 200);
  }

  /// For tests and network blips: drop the socket as a network failure would.
  dropForTest() { this.ws?.close(4999, 'test drop'); }

  setState(state, code, reason) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, code, reason } }));
  }
}
