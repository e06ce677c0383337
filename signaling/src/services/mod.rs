//! Domain services: the rules that HTTP handlers and the WebSocket session
//! share, on the store, with time passed in. Handlers only extract, call
//! and render.

pub mod accounts;
pub mod lifecycle;
pub mod rollcalls;
