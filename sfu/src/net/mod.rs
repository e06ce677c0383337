//! Drives the sans-IO core: one thread per media worker, each owning its
//! [`Engine`](crate::core::Engine), one UDP socket shared by all its peers,
//! and a waker so control-plane commands are handled at once.
//!
//! The loop: wait (mio) until the socket is readable, a command arrives, or
//! the engine's next deadline; receive datagrams in batches (`recvmmsg`
//! through quinn-udp) and feed each to the engine; handle due timeouts;
//! send everything the engine queued (each peer's datagrams in a row, a
//! frame's packets to one peer as one segmented send, GSO; the rest through `sendmmsg`, rustix); pass events
//! to the control plane.

mod group;
mod tcp;
mod udp;
mod worker;

pub use tcp::TcpCounters;
/// The media socket, for the benchmarks of its send path (`benches/`).
#[doc(hidden)]
pub use udp::BatchSocket;
pub(crate) use worker::{spawn, Neighbours, PeerGone, TcpListen, WorkerLink};
