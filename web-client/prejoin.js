// The pre-join screen's media: the camera and microphone preview, the
// microphone's level meter and the device choices (app.js wires the page).

import { $, h } from './dom.js';

let previewStream = null;
let meterTimer = null;

/// Opens the chosen camera and microphone (or the defaults) and shows them:
/// the preview, the microphone's level, the device lists.
export async function preview() {
  const cam = $('camera-select').value || undefined;
  const mic = $('mic-select').value || undefined;
  previewStream?.getTracks().forEach((tr) => tr.stop());
  const wantVideo = !$('audio-only').checked;
  try {
    previewStream = await navigator.mediaDevices.getUserMedia({
      audio: mic ? { deviceId: { exact: mic } } : true,
      video: wantVideo ? (cam ? { deviceId: { exact: cam } } : { width: 640, height: 480 }) : false,
    });
  } catch {
    previewStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false }).catch(() => new MediaStream());
  }
  $('preview').srcObject = previewStream;
  $('no-camera').hidden = previewStream.getVideoTracks().length > 0;
  startMeter(previewStream);
  await listDevices();
}

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const [select, kind] of [[$('camera-select'), 'videoinput'], [$('mic-select'), 'audioinput']]) {
    const current = select.value;
    select.replaceChildren(...devices.filter((d) => d.kind === kind)
      .map((d, i) => h('option', { value: d.deviceId }, d.label || `${kind} ${i + 1}`)));
    if (current) select.value = current;
  }
}

function startMeter(stream) {
  clearInterval(meterTimer);
  const [track] = stream.getAudioTracks();
  if (!track) return;
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
  const data = new Uint8Array(analyser.fftSize);
  meterTimer = setInterval(() => {
    analyser.getByteTimeDomainData(data);
    let peak = 0;
    for (const v of data) peak = Math.max(peak, Math.abs(v - 128));
    $('meter-fill').style.width = `${Math.min(100, (peak / 128) * 250)}%`;
  }, 100);
}

/// The stream the preview shows, to publish on joining (empty if none).
export function previewed() {
  return previewStream || new MediaStream();
}

/// Stops the level meter (on joining).
export function stopMeter() {
  clearInterval(meterTimer);
}
