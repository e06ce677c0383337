//! The media plane's own configuration (`[sfu]`).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::{ConfigError, Problem};

/// Configuration of the media plane: worker threads and their UDP sockets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SfuConfig {
    /// Number of media worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Address the media sockets bind to.
    pub bind_address: IpAddr,
    /// UDP port of the first worker; worker `i` binds `udp_port + i`.
    /// 0 lets the operating system pick a free port per worker (tests).
    pub udp_port: u32,
    /// Addresses announced to clients as ICE host candidates. Empty means the
    /// bind address (which must then not be unspecified).
    pub advertised_ips: Vec<IpAddr>,
    /// Most peers one worker accepts; a join beyond it is refused clearly.
    pub max_peers_per_worker: usize,
    /// Shortest interval between two keyframe requests sent to one publisher, ms.
    pub keyframe_min_interval_ms: u64,
    /// Most tracks one participant publishes (microphone, camera, screen,
    /// screen audio); an offer sending more is refused.
    pub max_tracks_per_peer: usize,
    /// Most kbit/s one published track forwards; beyond it the rest of that
    /// second's packets are dropped.
    pub max_track_kbps: u64,
    /// The starting bandwidth estimate towards each participant (kbit/s):
    /// each participant's videos get the simulcast layers that fit its
    /// estimate, which then follows its link. 0 turns estimation off (every
    /// video at its best layer, whatever the link).
    pub bwe_initial_kbps: u64,
    /// Participants joining a meeting that already has this many get no
    /// estimation, which costs CPU per participant; they are limited by
    /// the loss their receiver reports show instead (ADR 0028).
    pub bwe_max_room_peers: usize,
    /// Audio top-N: in a meeting of at least `audio_top_n_min_peers`
    /// participants, only this many microphones are forwarded at a time (the
    /// ones speaking, with a hangover), besides the floor holder, the
    /// broadcast source and the chair. 0: every microphone.
    pub audio_top_n: usize,
    /// The meeting size from which audio top-N applies.
    pub audio_top_n_min_peers: usize,
    /// Participants joining a meeting where audio top-N applies receive
    /// audio on voice lines, one per slot, instead of one per microphone.
    pub audio_voice_lines: bool,
    /// ICE-TCP (RFC 6544, passive): each worker also listens on TCP, and
    /// clients whose UDP is blocked reach the media over it.
    pub ice_tcp: bool,
    /// TCP port of the first worker's ICE-TCP listener; worker `i` listens
    /// on `tcp_port + i`. 0: the same port number as the worker's UDP
    /// socket.
    pub tcp_port: u32,
    /// Most ICE-TCP connections one worker holds (open or still silent);
    /// more are closed as they come.
    pub max_tcp_connections: usize,
    /// A meeting's participants join the worker it was opened on until it
    /// holds this many there; later ones go to the least busy worker, so
    /// that one large meeting uses every core (ADR 0018). 0: a meeting
    /// stays on one worker.
    pub spread_after: usize,
}

impl Default for SfuConfig {
    fn default() -> Self {
        Self {
            workers: 0,
            bind_address: IpAddr::from([127, 0, 0, 1]),
            udp_port: 40000,
            advertised_ips: Vec::new(),
            max_peers_per_worker: 1000,
            keyframe_min_interval_ms: 500,
            max_tracks_per_peer: 4,
            max_track_kbps: 10_000,
            bwe_initial_kbps: 2000,
            bwe_max_room_peers: 40,
            audio_top_n: 3,
            audio_top_n_min_peers: 20,
            audio_voice_lines: true,
            ice_tcp: true,
            tcp_port: 0,
            max_tcp_connections: 500,
            spread_after: 64,
        }
    }
}

impl SfuConfig {
    /// Checks values that the types alone do not constrain.
    pub fn validate(&self, problems: &mut Vec<Problem>) {
        if self.udp_port > u32::from(u16::MAX) {
            problems.push(Problem::new("sfu.udp_port", format!("{} is not a port", self.udp_port)));
        } else if self.udp_port != 0 {
            let last = self.udp_port as usize + self.worker_count().saturating_sub(1);
            if last > usize::from(u16::MAX) {
                problems.push(Problem::new(
                    "sfu.udp_port",
                    format!("{} + {} workers runs past port 65535", self.udp_port, self.worker_count()),
                ));
            }
        }
        if self.tcp_port > u32::from(u16::MAX) {
            problems.push(Problem::new("sfu.tcp_port", format!("{} is not a port", self.tcp_port)));
        } else if self.tcp_port != 0
            && self.tcp_port as usize + self.worker_count().saturating_sub(1) > usize::from(u16::MAX)
        {
            problems.push(Problem::new(
                "sfu.tcp_port",
                format!("{} + {} workers runs past port 65535", self.tcp_port, self.worker_count()),
            ));
        }
        if !(1..=100_000).contains(&self.max_tcp_connections) {
            problems.push(Problem::new("sfu.max_tcp_connections", "must be between 1 and 100000"));
        }
        if self.audio_top_n > 64 {
            problems.push(Problem::new("sfu.audio_top_n", "must be at most 64 (0: every microphone)"));
        }
        if self.workers > 256 {
            problems.push(Problem::new("sfu.workers", format!("{} workers is more than 256", self.workers)));
        }
        if self.advertised_ips.is_empty() && self.bind_address.is_unspecified() {
            problems.push(Problem::new(
                "sfu.advertised_ips",
                "must list the addresses clients reach when bind_address is unspecified",
            ));
        }
        if self.advertised_ips.iter().any(IpAddr::is_unspecified) {
            problems.push(Problem::new("sfu.advertised_ips", "an unspecified address cannot be advertised"));
        }
        if !(1..=16).contains(&self.max_tracks_per_peer) {
            problems.push(Problem::new("sfu.max_tracks_per_peer", "must be between 1 and 16"));
        }
        if self.bwe_initial_kbps != 0 && !(100..=100_000).contains(&self.bwe_initial_kbps) {
            problems.push(Problem::new("sfu.bwe_initial_kbps", "must be 0 (off) or between 100 and 100000"));
        }
        if !(64..=1_000_000).contains(&self.max_track_kbps) {
            problems.push(Problem::new("sfu.max_track_kbps", "must be between 64 and 1000000"));
        }
        if self.spread_after != 0 && self.spread_after < 2 {
            problems.push(Problem::new("sfu.spread_after", "must be 0 (never spread) or at least 2"));
        }
        if self.max_peers_per_worker == 0 {
            problems.push(Problem::new("sfu.max_peers_per_worker", "must be at least 1"));
        }
        if !(50..=10_000).contains(&self.keyframe_min_interval_ms) {
            problems.push(Problem::new("sfu.keyframe_min_interval_ms", "must be between 50 and 10000"));
        }
    }

    /// Worker threads to start: the configured count, or one per core.
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            return self.workers;
        }
        std::thread::available_parallelism().map(usize::from).unwrap_or(1)
    }

    /// UDP port of worker `index` (0 when the OS should choose).
    pub fn port_of_worker(&self, index: usize) -> u16 {
        if self.udp_port == 0 {
            return 0;
        }
        u16::try_from(self.udp_port as usize + index).unwrap_or(0)
    }

    /// ICE-TCP port of worker `index`, given the port its UDP socket got
    /// (`tcp_port + index`, or that UDP port when `tcp_port` is 0).
    pub fn tcp_port_of_worker(&self, index: usize, udp_port: u16) -> u16 {
        if self.tcp_port == 0 {
            return udp_port;
        }
        u16::try_from(self.tcp_port as usize + index).unwrap_or(0)
    }

    /// The addresses announced as ICE candidates.
    pub fn candidate_ips(&self) -> Vec<IpAddr> {
        if self.advertised_ips.is_empty() {
            vec![self.bind_address]
        } else {
            self.advertised_ips.clone()
        }
    }

    /// Convenience for tests: the checks as a result.
    pub fn check(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        self.validate(&mut problems);
        ConfigError::from_problems(problems)
    }
}
