//! Datagrams into the media engine on the simulated network: STUN, DTLS,
//! RTP and RTCP (or anything) from a stranger, from a client's address
//! before it is routed, while its handshake runs and after it is
//! connected; and RTP that a connected publisher sends properly encrypted
//! with a payload of the fuzzer's choosing (VP8, H.264, Opus, RED), so
//! that hostile descriptors reach the forwarding path behind SRTP.
//!
//! Input: a warm-up byte (the number of 5 ms steps simulated before the
//! operations; 0: nobody routed yet, 255: connected), a flags byte (bit 0:
//! bandwidth estimation on), then operations, each a kind byte and a
//! record (u16 length, bytes): 0/1 a raw datagram from client 0/1, 2 from
//! a stranger, 3 the same over ICE-TCP, 4 RTP written by publisher 0
//! (codec, marker, sequence step u16, timestamp u32, payload), 5 let time
//! pass (ms), 6 client `n` takes one step of its own and its datagrams
//! reach the engine without the replies (a handshake half done).
//!
//! Holds: nothing panics, inside the engine's peers included (libFuzzer's
//! panic hook aborts even where `Engine::with_rtc` would catch it), and
//! the peers stay in their room.

#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use huiyi_fuzz::Bytes;
use huiyi_sfu::core::{Engine, EngineConfig};
use huiyi_sfu::sim::Sim;
use huiyi_sfu::{PeerId, RoomId};
use libfuzzer_sys::fuzz_target;
use str0m::format::Codec;
use str0m::net::Protocol;
use str0m::rtp::{ExtensionValues, RtpWrite};
use str0m::{Input, Output};

const ROOM: RoomId = RoomId(1);

fn stranger() -> SocketAddr {
    "10.66.0.1:9".parse().expect("an address")
}

/// Publisher 0 writes one RTP packet; the client's str0m encrypts it.
fn publish(sim: &mut Sim, mut body: Bytes<'_>, seq: &mut u64) {
    let (sel, flags) = (body.u8(), body.u8());
    *seq += u64::from(body.u16());
    let ts = body.u32();
    let payload = body.0.to_vec();
    let now = sim.now;
    let c = &mut sim.clients[0];
    let (codec, red) = match sel % 4 {
        0 => (Codec::Vp8, false),
        1 => (Codec::H264, false),
        2 => (Codec::Opus, false),
        _ => (Codec::Opus, true),
    };
    let Some(mid) = (if codec == Codec::Opus { c.audio } else { c.video }) else { return };
    let Some(param) = c.rtc.codec_config().find(|p| p.spec().codec == codec) else { return };
    let pt = if red { param.red() } else { Some(param.pt()) };
    let Some(pt) = pt else { return };
    let ext = ExtensionValues {
        audio_level: (flags & 2 != 0).then_some(-((flags >> 2) as i8 & 0x3f)),
        voice_activity: (flags & 2 != 0).then_some(true),
        ..Default::default()
    };
    let mut api = c.rtc.direct_api();
    let Some(tx) = api.stream_tx_by_mid(mid, None) else { return };
    tx.write_rtp(RtpWrite::new(pt, (*seq).into(), ts, now, payload).marker(flags & 1 != 0).ext_vals(ext));
    let _ = c.rtc.handle_input(Input::Timeout(now));
    sim.pump();
}

/// Client `i` handles its timeout; what it sends reaches the engine, what
/// the engine answers waits in the engine's queue.
fn half_step(sim: &mut Sim, i: usize) {
    let now = sim.now;
    let server = sim.server;
    let Some(c) = sim.clients.get_mut(i) else { return };
    let _ = c.rtc.handle_input(Input::Timeout(now));
    for _ in 0..100 {
        match c.rtc.poll_output() {
            Ok(Output::Transmit(t)) => sim.engine.handle_receive(now, t.source, server, &t.contents),
            Ok(Output::Event(_)) => {}
            Ok(Output::Timeout(_)) | Err(_) => break,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes(data);
    let warmup = input.u8();
    let flags = input.u8();
    let server: SocketAddr = "10.9.9.9:3478".parse().expect("an address");
    let cfg = EngineConfig { bwe_initial: (flags & 1 != 0).then_some(1_000_000), ..EngineConfig::default() };
    let mut sim = Sim::new(Engine::new(cfg), server, Instant::now(), 7);
    sim.engine.create_room(ROOM).expect("a new room");
    // A Chromium-like publisher (RED audio, VP8 and H.264) and a plain subscriber.
    sim.red_audio = true;
    sim.h264_video = true;
    sim.join(ROOM, PeerId(1), true, true).expect("the publisher joins");
    sim.red_audio = false;
    sim.h264_video = false;
    sim.join(ROOM, PeerId(2), true, false).expect("the subscriber joins");
    if warmup == 255 {
        assert!(sim.connect_all(Duration::from_secs(5)), "the clients connect");
    } else {
        for _ in 0..warmup {
            sim.advance(Duration::from_millis(5));
        }
    }
    let mut seq = 1u64;
    let mut elapsed = Duration::ZERO;
    for _ in 0..64 {
        if input.is_empty() {
            break;
        }
        let kind = input.u8();
        let body = input.record();
        let now = sim.now;
        match kind % 7 {
            0 | 1 => {
                let from = sim.clients[usize::from(kind % 7)].addr;
                sim.engine.handle_receive(now, from, server, body);
            }
            2 => sim.engine.handle_receive(now, stranger(), server, body),
            3 => {
                let from =
                    if body.first().is_some_and(|b| b & 1 == 1) { sim.clients[0].addr } else { stranger() };
                sim.engine.handle_receive_on(now, Protocol::Tcp, from, server, body);
            }
            4 => publish(&mut sim, Bytes(body), &mut seq),
            5 => {
                let ms = u64::from(body.first().copied().unwrap_or(1)).max(1);
                if elapsed < Duration::from_secs(10) {
                    elapsed += Duration::from_millis(ms);
                    sim.advance(Duration::from_millis(ms));
                }
            }
            _ => half_step(&mut sim, usize::from(body.first().copied().unwrap_or(0) % 2)),
        }
        sim.pump();
    }
    // What the datagrams left behind plays out.
    for _ in 0..20 {
        sim.advance(Duration::from_millis(5));
    }
    assert!(sim.engine.peer_count() <= 2, "nobody joined by datagram");
    assert_eq!(sim.engine.room_count(), 1);
});
