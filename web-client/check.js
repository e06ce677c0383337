// The pre-join media check (issue 13): before joining, the page opens a
// short-lived peer connection (one data channel, no camera) to the server's
// media plane, with the TURN relays the server hands out. If it connects,
// the pre-join screen says which way media will go; if not, it says which
// ports to ask the administrator for, before anyone stares at black tiles.

import { mediaPath } from './media.js';
import { $ } from './dom.js';
import { t, label } from './i18n.js';

/// How long the check waits for its connection (ICE and DTLS; TURN over
/// TLS takes a few seconds more than UDP).
export const CHECK_TIMEOUT_MS = 12_000;

/// Pure: ranges of consecutive ports, e.g. [40000, 40001, 40003] →
/// '40000–40001、40003'.
export function portRanges(ports) {
  const sorted = [...new Set(ports)].filter((p) => Number.isInteger(p) && p > 0).sort((a, b) => a - b);
  const out = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j += 1;
    out.push(i === j ? `${sorted[i]}` : `${sorted[i]}–${sorted[j]}`);
    i = j + 1;
  }
  return out.join('、');
}

/// Pure: the port of a TURN URL (turns:host:443?transport=tcp → 443;
/// turn:host → 3478, turns:host → 5349, RFC 7065's defaults).
export function turnPort(url) {
  const m = /^(turns?):(?:\[[^\]]+\]|[^:?]+)(?::(\d+))?/i.exec(String(url));
  if (!m) return null;
  if (m[2]) return Number(m[2]);
  return m[1].toLowerCase() === 'turns' ? 5349 : 3478;
}

/// Pure: what to ask the administrator to open, from the server's media
/// paths (`POST /api/v1/media-check/paths`): 'UDP 40000–40001 或 TCP 443'.
/// TCP means the TURN relays' ports when there are relays (they are what a
/// strict firewall allows), else the ICE-TCP ports. `or` joins the two.
export function portAdvice({ udp_ports: udp = [], tcp_ports: tcp = [], turn = [] } = {}, or = '或') {
  const parts = [];
  if (udp.length) parts.push(`UDP ${portRanges(udp)}`);
  const tcpPorts = turn.length ? turn.map(turnPort).filter(Boolean) : tcp;
  if (tcpPorts.length) parts.push(`TCP ${portRanges(tcpPorts)}`);
  return parts.join(` ${or} `);
}

async function post(path, body) {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(data?.error?.message || `HTTP ${res.status}`), { status: res.status, code: data?.error?.code });
  return data;
}

/// Runs the check for the holder of `who` ({token} or {demo: true}).
/// Resolves to {ok: true, path: 'udp'|'tcp'|'turn'|null, paths}, to
/// {ok: false, paths} when no path connected in time, or to {ok: null,
/// reason} when the check itself could not run (a busy server, a refused
/// link, a browser without WebRTC): then nothing is known. Never rejects.
export async function checkMedia(who, { timeoutMs = CHECK_TIMEOUT_MS } = {}) {
  let paths = null;
  let pc = null;
  try {
    paths = await post('/api/v1/media-check/paths', who);
    pc = new RTCPeerConnection({ iceServers: paths.ice_servers || [] });
    pc.createDataChannel('check');
    const connected = new Promise((resolve) => {
      const look = () => {
        if (pc.connectionState === 'connected') resolve(true);
        if (pc.connectionState === 'failed' || pc.connectionState === 'closed') resolve(false);
      };
      pc.addEventListener('connectionstatechange', look);
      setTimeout(() => resolve(false), timeoutMs);
    });
    await pc.setLocalDescription(await pc.createOffer());
    const answer = await post('/api/v1/media-check', { ...who, sdp: pc.localDescription.sdp });
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    if (!(await connected)) return { ok: false, paths };
    const path = mediaPath(await pc.getStats());
    return { ok: true, path, paths };
  } catch (e) {
    // A busy server or a refused link says nothing about the network.
    return { ok: null, paths, reason: e?.code || String(e?.message || e) };
  } finally {
    pc?.close();
  }
}

/// The pre-join screen's line about media: checking, fine (and which
/// way), or blocked with the ports to ask for. Hidden when the check could
/// not run. Resolves to the check's result (tests read it as
/// `window.huiyiCheck`).
export async function prejoinCheck(who) {
  const el = $('media-check');
  el.hidden = false;
  el.className = 'media-check';
  el.textContent = t('checkRunning');
  const result = await checkMedia(who);
  window.huiyiCheck = result;
  el.dataset.state = result.ok === true ? 'ok' : result.ok === false ? 'failed' : 'unknown';
  if (result.ok === true) {
    el.textContent = result.path ? t('checkOkVia', { path: label('mediaPath', result.path) }) : t('checkOk');
  } else if (result.ok === false) {
    el.className = 'media-check alarm';
    el.setAttribute('role', 'alert');
    el.textContent = t('checkFailed', { ports: portAdvice(result.paths, t('or')) });
  } else {
    el.hidden = true;
  }
  return result;
}
