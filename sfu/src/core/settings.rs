//! What an engine is configured with, and what it counts.

use std::net::SocketAddr;
use std::time::Duration;

/// What one engine needs to know about its environment.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Addresses announced as ICE host candidates (the worker's socket as clients reach it).
    pub candidates: Vec<SocketAddr>,
    /// ICE-TCP listening addresses announced as passive TCP host candidates
    /// (RFC 6544), after the UDP ones.
    pub tcp_candidates: Vec<SocketAddr>,
    /// Shortest interval between keyframe requests to one publisher.
    pub keyframe_interval: Duration,
    /// Most peers this engine accepts.
    pub max_peers: usize,
    /// How often `PeerStats` events are emitted.
    pub stats_interval: Duration,
    /// Most tracks one peer publishes (an offer sending more is refused).
    pub max_tracks_per_peer: usize,
    /// Most bytes per second one published track forwards; beyond it, the
    /// rest of that second's packets are dropped (a hostile publisher
    /// cannot flood every subscriber).
    pub max_track_bytes_per_sec: u64,
    /// The starting bandwidth estimate towards each subscriber (bit/s):
    /// with it, the send-side estimator (transport-wide feedback) runs and
    /// each subscriber's videos are allocated layers within its estimate;
    /// without it, within what its receiver reports allow (ADR 0028).
    pub bwe_initial: Option<u64>,
    /// Peers joining a room that already has this many get no estimator
    /// (limited by their receiver reports instead, ADR 0028): estimation
    /// costs CPU per subscriber (docs/benchmarks.md).
    pub bwe_max_room_peers: usize,
    /// Audio top-N: in rooms of at least `audio_top_n_min_peers` peers only
    /// this many microphones are forwarded at a time (the loudest speaking),
    /// besides the always-heard ones. 0: every microphone.
    pub audio_top_n: usize,
    /// The room size from which audio top-N applies.
    pub audio_top_n_min_peers: usize,
    /// Peers joining a room where top-N applies get voice lines (one audio
    /// m-line per slot) instead of one m-line per microphone.
    pub voice_lines: bool,
    /// This engine's worker index, and how many workers there are: track
    /// ids are `worker + 1 + k × workers`, unique across the server, since a
    /// large room's tracks are known by the same id on every worker that
    /// holds a shard of it (ADR 0018).
    pub worker: usize,
    pub workers: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            candidates: Vec::new(),
            tcp_candidates: Vec::new(),
            keyframe_interval: Duration::from_millis(500),
            max_peers: 1000,
            stats_interval: Duration::from_secs(5),
            max_tracks_per_peer: 4,
            max_track_bytes_per_sec: 10_000_000 / 8,
            bwe_initial: None,
            bwe_max_room_peers: 40,
            audio_top_n: 3,
            audio_top_n_min_peers: 20,
            voice_lines: true,
            worker: 0,
            workers: 1,
        }
    }
}

/// Worker-wide counters, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineCounters {
    /// Datagrams received.
    pub datagrams_in: u64,
    /// Datagrams handed out for sending.
    pub datagrams_out: u64,
    /// Of those, datagrams that left in segmented sends (GSO: a run of a
    /// frame's packets to one destination in one system call).
    pub datagrams_segmented: u64,
    /// Datagrams no peer accepted (unknown source, stray STUN).
    pub dropped_unroutable: u64,
    /// Datagrams that are not STUN, DTLS, RTP or RTCP, or are oversized.
    pub dropped_malformed: u64,
    /// Datagrams a peer's state machine rejected (bad SRTP, truncated RTCP, unknown SSRC).
    pub dropped_rejected: u64,
    /// RTP packets written to subscribers.
    pub forwarded: u64,
    /// Peers removed because their state machine panicked or failed.
    pub peer_failures: u64,
    /// Simulcast layer switches made for subscribers (at a keyframe of the new layer).
    pub layer_switches: u64,
    /// Frame-rate changes made for subscribers (temporal layers added or
    /// dropped, at a frame boundary).
    pub frame_rate_changes: u64,
    /// Packets not forwarded because their frame's temporal layer was not.
    pub packets_thinned: u64,
    /// Videos paused for a subscriber's bandwidth (each time).
    pub videos_paused: u64,
    /// Bandwidth estimators restarted because they were stuck (`stale::StaleEstimate`).
    pub estimator_restarts: u64,
    /// Audio packets not forwarded by audio top-N (a microphone without a slot).
    pub audio_unselected: u64,
    /// Packets relayed to another worker holding a shard of their room
    /// (once per shard, ADR 0018).
    pub relayed: u64,
    /// Of the packets forwarded, those released and protected in the
    /// forwarding call itself (str0m's `write_rtp_now`, ADR 0020) rather
    /// than by the subscriber's next timeout pass.
    pub sent_directly: u64,
    /// Of the packets forwarded, those written to a paced subscriber's
    /// send queue because its line is the limit (ADR 0021).
    pub sent_paced: u64,
    /// Timeout passes of a peer's state machine because its own timer was
    /// due (ADR 0023: how often subscribers are woken, per delivered packet).
    pub timeout_passes: u64,
}
