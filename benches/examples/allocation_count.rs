//! What layer allocation costs, counted in instructions instead of timed
//! (issue 12; docs/benchmarks.md): a meeting of simulcast cameras and
//! listeners on simulated time, with the bandwidth estimator and layer
//! allocation on (`on`: every subscriber starts at 1 Mbit/s, as
//! `sfu.bwe_initial_kbps` = 1000; `on 10000`: at 10 Mbit/s) or off (`off`: every video at its best
//! layer). Run under callgrind, which counts the engine's instructions
//! whatever else the machine does:
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=on.out \
//!     target/release/examples/allocation_count on
//! callgrind_annotate --inclusive=yes on.out | grep 'Engine::handle'
//! ```
//!
//! It prints the packets the engine forwarded, to divide by.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use huiyi_sfu::core::{Engine, EngineConfig};
use huiyi_sfu::sim::Sim;
use huiyi_sfu::{PeerId, RoomId};

const ROOM: RoomId = RoomId(1);
const CAMERAS: u64 = 4;
const LISTENERS: u64 = 8;
const SECONDS: u64 = 8;

fn main() {
    let on = match std::env::args().nth(1).as_deref() {
        Some("on") => true,
        Some("off") => false,
        _ => {
            eprintln!("usage: allocation_count on|off");
            std::process::exit(2);
        }
    };
    // (`on KBPS`: another starting estimate; with one above what every
    // layer takes, both arms forward the same layers and the difference is
    // the estimator's and the allocator's own work.)
    let kbps: u64 = std::env::args().nth(2).and_then(|k| k.parse().ok()).unwrap_or(1000);
    let cfg = EngineConfig { bwe_initial: on.then_some(kbps * 1000), ..EngineConfig::default() };
    let server: SocketAddr = "10.9.9.9:3478".parse().expect("address");
    let mut sim = Sim::new(Engine::new(cfg), server, Instant::now(), 3);
    sim.engine.create_room(ROOM).expect("room");
    for i in 0..CAMERAS {
        let c = sim.join_simulcast(ROOM, PeerId(i)).expect("camera");
        sim.clients[c].temporal = true;
    }
    for i in 0..LISTENERS {
        sim.join(ROOM, PeerId(100 + i), true, false).expect("listener");
    }
    assert!(sim.connect_all(Duration::from_secs(5)), "everyone connects");
    let cameras: Vec<usize> = (0..CAMERAS as usize).collect();
    sim.run_media(&cameras, SECONDS * 1000, 0, true);
    let c = sim.engine.counters();
    // The layers the listeners got, by the size of their video packets
    // (150, 500 and 1 200 bytes for the three layers).
    let mut sizes = [0u64; 3];
    for l in &sim.clients[CAMERAS as usize..] {
        for r in l.received.iter().filter(|r| r.payload.len() >= 150) {
            sizes[usize::from(r.payload.len() >= 500) + usize::from(r.payload.len() >= 1200)] += 1;
        }
    }
    let arm = if on { "on" } else { "off" };
    println!(
        "allocation {arm}: forwarded {} packets ({} released in the forwarding call, ADR 0020; {} paced, ADR 0021), {} timeout passes (ADR 0023), layer switches {}, listeners' video packets by layer {sizes:?}",
        c.forwarded, c.sent_directly, c.sent_paced, c.timeout_passes, c.layer_switches
    );
}
