//! The sans-IO media core: rooms, peers, up/down tracks and the forwarding
//! decisions. No sockets, no threads, no clock reads: time is an argument.

pub mod allocate;
mod choice;
pub mod clock;
mod control;
mod engine;
pub mod events;
mod forward;
mod idle;
pub mod ids;
pub mod keyframe;
mod layers;
mod negotiate;
mod peer;
pub mod red;
pub(crate) mod relay;
pub mod reported;
pub mod rewrite;
mod room;
mod settings;
pub mod stale;
pub mod tap;
mod timers;
mod topn;
mod viewer;
mod voices;
pub mod vp8;

pub use engine::{Engine, EngineConfig, EngineCounters, MAX_DATAGRAM};
