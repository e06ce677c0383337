//! A room: its members, its published tracks, and what the control plane
//! set for all of them (featured publishers, audio top-N, recording).

use std::collections::HashMap;

use crate::core::ids::{PeerId, TrackId};
use crate::core::peer::PeerKey;
use crate::core::tap::{Tap, TapKind};
use crate::core::topn::AudioSlots;

pub(crate) struct Room {
    pub members: Vec<PeerKey>,
    /// Published tracks: owner and up track index.
    pub tracks: HashMap<TrackId, (PeerKey, usize)>,
    /// Publishers whose video comes first for every subscriber (the floor
    /// holder, the broadcast source, the spotlight), in that order.
    pub featured: Vec<PeerId>,
    /// The active speaker, or the last one while nobody speaks.
    pub last_speaker: Option<PeerId>,
    /// Publishers always heard under audio top-N, besides the featured (the chair).
    pub always_heard: Vec<PeerId>,
    /// Audio top-N: the microphones forwarded in a large room.
    pub audio_slots: AudioSlots,
    /// The track ids of its voice lines, one per slot (given out when the
    /// first listener gets voice lines), and the listeners that have them.
    pub voice_ids: Vec<TrackId>,
    pub voice_peers: Vec<PeerKey>,
    /// Recording and the live feed: a copy of each published packet goes
    /// to each (by [`TapKind`]).
    pub taps: [Option<Tap>; 2],
    /// This is the room's home (the worker it was opened on), not a shard
    /// (ADR 0018): the home alone reports the room's active speaker.
    pub home: bool,
    /// The other workers that hold a part of the room: each track
    /// published here is relayed to them.
    pub shards: Vec<usize>,
    /// Stand-ins for the publishers on those workers.
    pub remote: HashMap<PeerId, PeerKey>,
    /// The room's peers on those workers, as the control plane last said.
    pub elsewhere: usize,
}

impl Room {
    pub fn new() -> Self {
        Room {
            members: Vec::new(),
            tracks: HashMap::new(),
            featured: Vec::new(),
            last_speaker: None,
            always_heard: Vec::new(),
            audio_slots: AudioSlots::default(),
            voice_ids: Vec::new(),
            voice_peers: Vec::new(),
            taps: [None, None],
            home: true,
            shards: Vec::new(),
            remote: HashMap::new(),
            elsewhere: 0,
        }
    }

    /// The tap of `kind`'s slot.
    pub fn tap_mut(&mut self, kind: TapKind) -> &mut Option<Tap> {
        &mut self.taps[kind as usize]
    }

    /// Large enough for audio top-N and voice lines: `min_peers` peers,
    /// here and on the room's other workers.
    pub fn large(&self, min_peers: usize) -> bool {
        self.members.len() + self.elsewhere >= min_peers
    }

    /// Heard whatever audio top-N decides: featured or always heard.
    pub fn always_heard(&self, publisher: PeerId) -> bool {
        self.featured.contains(&publisher) || self.always_heard.contains(&publisher)
    }
}
