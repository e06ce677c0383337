//! The WebSocket side: the protocol messages and one actor per socket.

pub mod protocol;
pub mod session;
