//! What the simulated-time tests share: a room on an engine in a [`Sim`],
//! and media sent by its clients.
#![allow(dead_code)] // each test file uses its part

use std::net::SocketAddr;
use std::time::Instant;

use huiyi_sfu::core::{Engine, EngineConfig};
use huiyi_sfu::sim::Sim;
use huiyi_sfu::RoomId;

pub const ROOM: RoomId = RoomId(1);

/// An engine with `cfg` and room [`ROOM`] in a simulation seeded `seed`.
pub fn sim_with(cfg: EngineConfig, seed: u64) -> Sim {
    let server: SocketAddr = "10.9.9.9:3478".parse().expect("addr");
    let mut sim = Sim::new(Engine::new(cfg), server, Instant::now(), seed);
    sim.engine.create_room(ROOM).expect("room");
    sim
}

/// The id a sim client wrote into a packet's payload.
pub fn payload_id(video: bool, payload: &[u8]) -> u64 {
    let at = if video { 5 } else { 0 };
    u64::from_be_bytes(payload[at..at + 8].try_into().expect("8 bytes"))
}

/// Runs `ms` milliseconds: every publisher sends one audio packet per 20 ms
/// and one video packet per 10 ms, ids counting from `first`.
pub fn run_media(sim: &mut Sim, publishers: &[usize], ms: u64, first: u64) -> u64 {
    sim.run_media(publishers, ms, first, false)
}
