//! Huiyi's benchmarks. `benches/fanout.rs` measures the forwarding path
//! (one publisher fanned out to N subscribers through the real engine, SRTP
//! included); [`load`] is the `huiyi-load` load generator.

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
    let server: SocketAddr = "10.9.9.9:3478".parse().expect("valid address");
    let cfg = EngineConfig {
        max_peers: subscribers + 1,
        stats_interval: Duration::from_secs(3600),
        ..EngineConfig::default()
    };
    let mut sim = Sim::new(Engine::new(cfg), server, Instant::now(), 11);
    sim.engine.create_room(ROOM).expect("new room");
    sim.join(ROOM, PeerId(0), false, true).expect("publisher joins");
    for i in 1..=subscribers {
        sim.join(ROOM, PeerId(i as u64), false, false).expect("subscriber joins");
    }
    assert!(sim.connect_all(Duration::from_secs(30)), "all peers connect");
    for t in 0..400u64 {
        if t % 10 == 0 {
            sim.send_video(0, t);
        }
        sim.advance(Duration::from_millis(1));
    }
    let receiving = sim.clients[1..].iter().filter(|c| !c.received.is_empty()).count();
    assert_eq!(receiving, subscribers, "every subscriber receives before measuring");
    sim
}

/// Feeds captured publisher datagrams to the engine and discards what it
/// sends; returns the packets forwarded.
pub fn replay(sim: &mut Sim, datagrams: &[(SocketAddr, Vec<u8>)]) -> u64 {
    let before = sim.engine.counters().forwarded;
    let (now, server) = (sim.now, sim.server);
    for (source, data) in datagrams {
        sim.engine.handle_receive(now, *source, server, data);
        while let Some(t) = sim.engine.poll_transmit() {
            std::hint::black_box(&t);
        }
    }
    sim.engine.counters().forwarded - before
}
