//! The publishers' media on simulated time: the packets a client sends
//! (VP8 with or without simulcast and temporal layers, Opus with an audio
//! level) and the loop that tests and the counting benchmarks drive a
//! [`Sim`] with.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::format::Codec;
use str0m::media::Mid;
use str0m::rtp::RtpWrite;
use str0m::{Input, Output};

use super::{drain_client, Client, Sim};

impl Sim {
    /// For `ms` milliseconds, each of `publishers` sends a video frame every
    /// 10 ms (on each simulcast layer with `simulcast`, else one packet)
    /// and a 20 ms audio packet every 20 ms, each carrying an id counted
    /// from `first` (one per video frame); simulated time advances a
    /// millisecond at a time. Returns the next id.
    pub fn run_media(&mut self, publishers: &[usize], ms: u64, first: u64, simulcast: bool) -> u64 {
        let mut id = first;
        for t in 0..ms {
            for &p in publishers {
                if t % 10 == 0 {
                    if simulcast {
                        self.send_video_layers(p, id);
                    } else {
                        self.send_video(p, id);
                    }
                }
                if t % 20 == 0 {
                    self.send_audio(p, id);
                }
            }
            id += u64::from(t % 10 == 0);
            self.advance(Duration::from_millis(1));
        }
        id
    }

    /// Client `i` sends one packet on each of its simulcast layers (sizes
    /// 150, 500 and 1 200 bytes: about 120 kbit/s, 400 kbit/s and 960 kbit/s
    /// at one packet per 10 ms), each layer starting a keyframe when one
    /// was asked for it. Each packet is a frame. The payload carries the
    /// layer index after the VP8 descriptor and payload header, then `id`.
    pub fn send_video_layers(&mut self, i: usize, id: u64) {
        let now = self.now;
        let c = &mut self.clients[i];
        let Some(mid) = c.video else { return };
        let any = std::mem::take(&mut c.keyframe_wanted);
        for (layer, (rid, size)) in [("q", 150usize), ("h", 500), ("f", 1200)].into_iter().enumerate() {
            let keyframe = std::mem::take(&mut c.layer_keyframe_wanted[layer]) || any;
            c.layer_seq[layer] += 1;
            let seq = c.layer_seq[layer];
            let pic = (seq & 0x7fff) as u16;
            let mut payload = if c.temporal {
                let tid = if keyframe { 0 } else { [0u8, 2, 1, 2][(seq % 4) as usize] };
                let sync = tid == 1 || seq % 4 == 1;
                let t = (tid << 6) | (u8::from(sync) << 5);
                vec![0x90, 0xa0, 0x80 | (pic >> 8) as u8, pic as u8, t, u8::from(!keyframe), layer as u8]
            } else {
                vec![0x90, 0x80, 0x80 | (pic >> 8) as u8, pic as u8, u8::from(!keyframe), layer as u8]
            };
            payload.extend_from_slice(&id.to_be_bytes());
            payload.resize(size, 0xab);
            let Some(pt) = c.rtc.codec_config().find(|p| p.spec().codec == Codec::Vp8).map(|p| p.pt()) else {
                return;
            };
            let ts = media_ts(self.start, now, 90);
            if let Some(tx) = c.rtc.direct_api().stream_tx_by_mid(mid, Some(rid.into())) {
                tx.write_rtp(RtpWrite::new(pt, seq.into(), ts, now, payload).marker(true).nackable(true));
            }
        }
        drain_client(c, now, &mut self.engine, &mut self.loss, self.server);
        self.pump();
    }

    /// Client `i` sends one video packet (a keyframe start when one was
    /// requested) whose payload carries `id` after the VP8 descriptor.
    pub fn send_video(&mut self, i: usize, id: u64) {
        let now = self.now;
        let c = &mut self.clients[i];
        let Some(mid) = c.video else { return };
        let keyframe = std::mem::take(&mut c.keyframe_wanted);
        c.video_seq += 1;
        let seq = c.video_seq;
        let pic = (seq & 0x7fff) as u16;
        // X=1 S=1 PID=0 | I=1 | M=1 picture id | VP8 header (P bit: 0 = key)
        let mut payload = vec![0x90, 0x80, 0x80 | (pic >> 8) as u8, pic as u8, u8::from(!keyframe)];
        payload.extend_from_slice(&id.to_be_bytes());
        payload.resize(1000, 0xab);
        write(c, mid, Codec::Vp8, seq, media_ts(self.start, now, 90), now, payload, true, None);
        drain_client(c, now, &mut self.engine, &mut self.loss, self.server);
        self.pump();
    }

    /// Client `i` writes `count` video packets (keyframe first if one is
    /// wanted) without delivering them: the datagrams, as the server would
    /// receive them, for replaying into the engine in benchmarks.
    pub fn capture_video(&mut self, i: usize, count: u64) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut out = Vec::with_capacity(count as usize);
        let c = &mut self.clients[i];
        let Some(mid) = c.video else { return out };
        for _ in 0..count {
            // str0m releases written packets on its next time input.
            self.now += Duration::from_micros(10);
            let now = self.now;
            c.video_seq += 1;
            let seq = c.video_seq;
            let keyframe = std::mem::take(&mut c.keyframe_wanted);
            let pic = (seq & 0x7fff) as u16;
            let mut payload = vec![0x90, 0x80, 0x80 | (pic >> 8) as u8, pic as u8, u8::from(!keyframe)];
            payload.extend_from_slice(&seq.to_be_bytes());
            payload.resize(1000, 0xab);
            write(c, mid, Codec::Vp8, seq, media_ts(self.start, now, 90), now, payload, true, None);
            let _ = c.rtc.handle_input(Input::Timeout(now));
            while let Ok(o) = c.rtc.poll_output() {
                match o {
                    Output::Transmit(t) => out.push((t.source, t.contents.into())),
                    Output::Timeout(_) => break,
                    Output::Event(_) => {}
                }
            }
        }
        out
    }

    /// Client `i` sends one 20 ms audio packet carrying `id`.
    pub fn send_audio(&mut self, i: usize, id: u64) {
        self.send_audio_captured(i, id, Duration::ZERO);
    }

    /// Like [`Sim::send_audio`], for audio captured `delay` before now (a
    /// sender whose audio pipeline lags): its RTP time and sender reports
    /// say so, its arrival time does not.
    pub fn send_audio_captured(&mut self, i: usize, id: u64, delay: Duration) {
        self.send_audio_with(i, id, delay, -30);
    }

    /// Client `i` sends one 20 ms audio packet carrying `id` whose RFC 6464
    /// level is `dbov` (-30: speech, -127: silence).
    pub fn send_audio_at_level(&mut self, i: usize, id: u64, dbov: i8) {
        self.send_audio_with(i, id, Duration::ZERO, dbov);
    }

    fn send_audio_with(&mut self, i: usize, id: u64, delay: Duration, dbov: i8) {
        let now = self.now;
        let captured = now.checked_sub(delay).unwrap_or(now).max(self.start);
        let c = &mut self.clients[i];
        let Some(mid) = c.audio else { return };
        c.audio_seq += 1;
        let seq = c.audio_seq;
        let mut payload = id.to_be_bytes().to_vec();
        payload.resize(120, 0x11);
        write(
            c,
            mid,
            Codec::Opus,
            seq,
            media_ts(self.start, captured, 48),
            captured,
            payload,
            false,
            Some(dbov),
        );
        drain_client(c, now, &mut self.engine, &mut self.loss, self.server);
        self.pump();
    }
}

/// RTP time of `at` for a clock of `khz` kHz counted from `start`.
fn media_ts(start: Instant, at: Instant, khz: u64) -> u32 {
    (at.saturating_duration_since(start).as_micros() as u64 * khz / 1000) as u32
}

#[allow(clippy::too_many_arguments)]
fn write(
    c: &mut Client,
    mid: Mid,
    codec: Codec,
    seq: u64,
    ts: u32,
    now: Instant,
    payload: Vec<u8>,
    marker: bool,
    audio_level: Option<i8>,
) {
    let Some(param) = c.rtc.codec_config().find(|p| p.spec().codec == codec) else {
        return;
    };
    // Audio goes RED-wrapped where RED was negotiated: one redundant block (a
    // stand-in for the previous packet), then the primary.
    let (pt, payload) = match param.red().filter(|_| codec == Codec::Opus) {
        Some(red) => {
            let word = (960u32 << 10) | 4;
            let mut wrapped = vec![0x80 | *param.pt(), (word >> 16) as u8, (word >> 8) as u8, word as u8];
            wrapped.push(*param.pt());
            wrapped.extend_from_slice(&[0xee; 4]);
            wrapped.extend_from_slice(&payload);
            (red, wrapped)
        }
        None => (param.pt(), payload),
    };
    let mut api = c.rtc.direct_api();
    let Some(tx) = api.stream_tx_by_mid(mid, None) else {
        return;
    };
    let ext = str0m::rtp::ExtensionValues {
        audio_level,
        voice_activity: audio_level.map(|_| true),
        ..Default::default()
    };
    tx.write_rtp(RtpWrite::new(pt, seq.into(), ts, now, payload).marker(marker).nackable(true).ext_vals(ext));
}
