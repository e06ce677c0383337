//! Huiyi's control plane and the `huiyi` server.
//!
//! The crate root only composes. Reading order, from the leaves up:
//! `clock` (time in one form), `scheduling` (pure rules of the calendar),
//! `meeting::core` (the live meeting, sans-IO), `store` (SQLite),
//! `services` (domain services on the store), `meeting` (the actors that
//! run cores), `ws` (sessions: the wire), `http` (REST and pages), and
//! `server` (`run`: everything started and stopped), and `cli` (the
//! `huiyi` command). docs/architecture.md draws the layers.

pub mod auth;
pub mod cli;
pub mod clock;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod limits;
pub mod listen;
pub mod live;
pub mod meeting;
pub mod permissions;
pub mod recording;
pub mod scheduling;
pub mod server;
pub mod services;
pub mod store;
pub mod tls;
pub mod token;
pub mod ws;

pub use server::run;
