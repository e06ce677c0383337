//! Huiyi's benchmarks. `benches/fanout.rs` measures the forwarding path
//! (one publisher fanned out to N subscribers through the real engine, SRTP
//! included); [`load`] is the `huiyi-load` load generator; [`floor`] what
//! the kernel and the cipher alone cost per packet on this machine.

pub mod floor;
pub mod load;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use huiyi_sfu::core::{Engine, EngineConfig};
use huiyi_sfu::sim::Sim;
use huiyi_sfu::{PeerId, RoomId};

/// The room used by the fan-out setup.
pub const ROOM: RoomId = RoomId(1);

/// One publisher (client 0, video) and `subscribers` receivers, connected,
/// negotiated and already receiving video.
pub fn fanout(subscribers: usize) -> Sim {
    fanout_beside(subscribers, 0)
}

/// The same, on a worker that also holds `quiet` connected peers in rooms
/// of five where nobody sends (what the worker's timeout pass must not
/// spend time on).
pub fn fanout_beside(subscribers: usize, quiet: usize) -> Sim {
    let server: SocketAddr = "10.9.9.9:3478".parse().expect("valid address");
    let cfg = EngineConfig {
        max_peers: subscribers + 1 + quiet,
        stats_interval: Duration::from_secs(3600),
        // (The capture sends 100 000 packets per simulated second, far over
        // the per-track cap a real publisher is held to.)
        max_track_bytes_per_sec: u64::MAX,
        ..EngineConfig::default()
    };
    let mut sim = Sim::new(Engine::new(cfg), server, Instant::now(), 11);
    sim.engine.create_room(ROOM).expect("new room");
    sim.join(ROOM, PeerId(0), false, true).expect("publisher joins");
    for i in 1..=subscribers {
        sim.join(ROOM, PeerId(i as u64), false, false).expect("subscriber joins");
    }
    for i in 0..quiet {
        let room = RoomId(1_000 + (i / 5) as u64);
        if i % 5 == 0 {
            sim.engine.create_room(room).expect("new room");
        }
        sim.join(room, PeerId(1_000_000 + i as u64), false, false).expect("a quiet peer joins");
    }
    assert!(sim.connect_all(Duration::from_secs(30)), "all peers connect");
    // 2.5 s: every subscriber's receiver reports (each second, for video)
    // reach the engine. Until one does, str0m attaches the MID to every
    // packet of that subscriber's stream, which no real subscriber makes
    // it do for longer than its first second.
    for t in 0..2_500u64 {
        if t % 10 == 0 {
            sim.send_video(0, t);
        }
        sim.advance(Duration::from_millis(1));
    }
    let receiving = sim.clients[1..].iter().filter(|c| !c.received.is_empty()).count();
    assert_eq!(receiving, subscribers, "every subscriber receives before measuring");
    sim
}

/// Feeds captured publisher datagrams to the engine as the worker does when
/// one datagram arrives per loop turn, its costliest case: each datagram,
/// then the timeout pass that releases what the forwarding queued (str0m
/// sends a written packet only on its next timeout, with its SRTP protect
/// there). Discards what it sends; returns the packets forwarded. Panics if
/// fewer datagrams left the engine than it forwarded (reports included).
pub fn replay(sim: &mut Sim, datagrams: &[(SocketAddr, Vec<u8>)]) -> u64 {
    let before = sim.engine.counters().forwarded;
    let (now, server) = (sim.now, sim.server);
    let mut sent = 0u64;
    for (source, data) in datagrams {
        sim.engine.handle_receive(now, *source, server, data);
        sim.engine.handle_timeout(now);
        while let Some(t) = sim.engine.poll_transmit() {
            std::hint::black_box(&t);
            sim.engine.recycle(t.contents);
            sent += 1;
        }
    }
    let forwarded = sim.engine.counters().forwarded - before;
    assert!(sent >= forwarded, "{forwarded} packets forwarded, only {sent} datagrams sent");
    forwarded
}
