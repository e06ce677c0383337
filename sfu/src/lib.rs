//! Huiyi's media plane: a WebRTC selective forwarding unit on str0m.
//!
//! * [`core`] is sans-IO: an [`Engine`](core::Engine) per media worker holds
//!   that worker's rooms, peers and tracks and decides, packet by packet,
//!   what each subscriber receives. Tests drive it on simulated time.
//! * [`net`] runs engines: one thread per worker, each owning one UDP socket
//!   shared by all its peers, batched receive, timers.
//! * [`api`] is the only door for the control plane: typed commands and
//!   events through a cloneable [`SfuHandle`](api::SfuHandle).
//!
//! `docs/architecture.md` follows one packet from socket to subscriber.

pub mod api;
mod command;
pub mod core;
pub mod net;
mod placement;
pub mod sim;

pub use crate::api::{Sfu, SfuHandle};
pub use crate::core::events::{LeaveReason, PeerCounters, SfuError, SfuEvent};
pub use crate::core::ids::{PeerId, RoomId, TrackId, TrackKind};
pub use crate::core::tap::{Tap, TapCodec, TapKind, TapPacket};
