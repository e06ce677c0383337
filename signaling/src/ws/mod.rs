//! The WebSocket side: one actor per socket, and the mapping between the
//! meeting's words and the wire (the protocol itself is the `huiyi-protocol`
//! crate).

pub mod session;
pub mod wire;
