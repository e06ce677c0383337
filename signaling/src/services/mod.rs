//! Domain services: the rules that HTTP handlers and the WebSocket session
//! share, on the store, with time passed in. Handlers only extract, call
//! and render.

pub mod accounts;
pub mod attendance;
pub mod config_audit;
pub mod invitations;
pub mod lifecycle;
pub mod login;
pub mod meetings;
pub mod org;
pub mod passwords;
pub mod rollcalls;
pub mod text;
pub mod turn;
