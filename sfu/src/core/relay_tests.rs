//! Two engines holding one room between them, on simulated time: the
//! relay carries what their workers would carry.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::core::events::SfuEvent;
use crate::core::ids::{PeerId, RoomId, TrackKind};
use crate::core::{Engine, EngineConfig};
use crate::sim::Sim;

const ROOM: RoomId = RoomId(7);

/// A room's home on worker 0 (`a`) and a shard of it on worker 1 (`b`).
struct Pair {
    a: Sim,
    b: Sim,
    /// Relayed messages moved so far.
    moved: usize,
}

impl Pair {
    fn new() -> Self {
        let now = Instant::now();
        let cfg = |worker| EngineConfig { worker, workers: 2, ..EngineConfig::default() };
        let mut a = Sim::new(Engine::new(cfg(0)), "10.9.9.9:3478".parse().expect("addr"), now, 11);
        let mut b = Sim::new(Engine::new(cfg(1)), "10.9.9.10:3478".parse().expect("addr"), now, 12);
        a.engine.create_room(ROOM).expect("room");
        b.engine.open_shard(ROOM, vec![0, 1]).expect("shard");
        a.engine.add_shard(ROOM, 1).expect("shard known");
        Pair { a, b, moved: 0 }
    }

    /// Carries relayed messages both ways until none are left.
    fn relay(&mut self) {
        loop {
            let mut moved = false;
            while let Some((to, m)) = self.a.engine.poll_relay() {
                assert_eq!(to, 1, "worker 0 relays to worker 1 only");
                self.b.engine.handle_relays(self.b.now, vec![m]);
                moved = true;
                self.moved += 1;
            }
            while let Some((to, m)) = self.b.engine.poll_relay() {
                assert_eq!(to, 0, "worker 1 relays to worker 0 only");
                self.a.engine.handle_relays(self.a.now, vec![m]);
                moved = true;
                self.moved += 1;
            }
            if !moved {
                return;
            }
            self.a.pump();
            self.b.pump();
        }
    }

    fn advance(&mut self, step: Duration) {
        self.a.advance(step);
        self.b.advance(step);
        self.relay();
    }

    /// `ms` of media from `publishers` (sim, client): a video packet each
    /// 10 ms and an audio packet each 20 ms; returns the next id.
    fn media(&mut self, publishers: &[(bool, usize)], ms: u64, first: u64) -> u64 {
        let mut id = first;
        for t in 0..ms {
            for &(on_b, i) in publishers {
                let sim = if on_b { &mut self.b } else { &mut self.a };
                if t % 10 == 0 {
                    sim.send_video(i, id);
                }
                if t % 20 == 0 {
                    sim.send_audio(i, id);
                }
            }
            id += u64::from(t % 10 == 0);
            self.advance(Duration::from_millis(1));
        }
        id
    }
}

fn video_ids(sim: &Sim, client: usize) -> BTreeSet<u64> {
    sim.clients[client]
        .received
        .iter()
        .filter(|r| r.payload.len() == 1000)
        .map(|r| u64::from_be_bytes(r.payload[5..13].try_into().expect("8 bytes")))
        .collect()
}

#[test]
fn a_room_over_two_workers_reaches_every_subscriber_and_repairs_where_they_are() {
    let mut pair = Pair::new();
    let publisher = pair.a.join(ROOM, PeerId(1), true, true).expect("join");
    let near = pair.a.join(ROOM, PeerId(2), false, false).expect("join");
    let far = pair.b.join(ROOM, PeerId(3), false, false).expect("join");
    let lossy = pair.b.join(ROOM, PeerId(4), false, false).expect("join");
    let far_publisher = pair.b.join(ROOM, PeerId(5), true, true).expect("join");
    assert!(pair.a.connect_all(Duration::from_secs(5)) && pair.b.connect_all(Duration::from_secs(5)));
    for _ in 0..100 {
        pair.advance(Duration::from_millis(5));
    }
    let asked_before = pair.a.clients[publisher].keyframe_requests;
    pair.b.clients[lossy].loss_in = 0.05; // the far worker answers its NACKs from its own cache
    let last = pair.media(&[(false, publisher), (true, far_publisher)], 10_000, 1);
    pair.b.clients[lossy].loss_in = 0.0;
    for _ in 0..200 {
        pair.advance(Duration::from_millis(5));
    }
    for (name, sim, client) in [("near", &pair.a, near), ("far", &pair.b, far), ("lossy", &pair.b, lossy)] {
        let got = video_ids(sim, client);
        let first = *got.first().unwrap_or_else(|| panic!("{name}: no video"));
        let missing: Vec<u64> = (first..last).filter(|id| !got.contains(id)).collect();
        assert!(last - first > 900, "{name}: started late, at {first}");
        assert!(missing.is_empty(), "{name}: {} of {} never arrived", missing.len(), last - first);
    }
    // Worker 0's subscriber receives the far publisher too, and worker 1's
    // the near one: audio as well as video, each way.
    let mids: BTreeSet<_> = pair.a.clients[near].received.iter().map(|r| r.mid).collect();
    assert_eq!(mids.len(), 4, "two microphones and two cameras, one of each relayed: {mids:?}");
    for (name, sim, client) in [("near", &pair.a, near), ("far", &pair.b, far)] {
        let mut audio = std::collections::BTreeMap::new();
        for r in sim.clients[client].received.iter().filter(|r| r.payload.len() != 1000) {
            *audio.entry(r.mid).or_insert(0_usize) += 1;
        }
        assert_eq!(audio.len(), 2, "{name} hears both microphones: {audio:?}");
        assert!(audio.values().all(|n| *n >= 450), "{name}: each microphone's packets arrived: {audio:?}");
    }
    let cameras: Vec<usize> = mids
        .iter()
        .map(|m| {
            pair.a.clients[near].received.iter().filter(|r| r.mid == *m && r.payload.len() == 1000).count()
        })
        .filter(|n| *n > 0)
        .collect();
    assert_eq!(cameras.len(), 2, "both cameras: {cameras:?}");
    assert!(cameras.iter().all(|n| *n >= 990), "each camera's packets arrived whole: {cameras:?}");
    // The far subscribers' starts were asked of the publisher through its
    // own throttle (each relayed packet is one message; the rest few).
    let asked = pair.a.clients[publisher].keyframe_requests - asked_before;
    assert!(asked <= 3, "keyframe requests from both workers' subscribers coalesce: {asked}");
    let c = pair.b.engine.counters();
    assert_eq!(c.dropped_rejected + c.peer_failures, 0, "{c:?}");
    assert!(pair.moved > 1000, "packets crossed between the workers: {}", pair.moved);
    // Only the home names the active speaker.
    assert!(pair.b.events.iter().all(|e| !matches!(e, SfuEvent::ActiveSpeaker { .. })));
    assert!(pair.a.events.iter().any(|e| matches!(e, SfuEvent::ActiveSpeaker { .. })));
}

#[test]
fn a_publisher_leaving_one_worker_ends_its_tracks_on_the_other() {
    let mut pair = Pair::new();
    let publisher = pair.a.join(ROOM, PeerId(1), true, true).expect("join");
    let far = pair.b.join(ROOM, PeerId(3), false, false).expect("join");
    assert!(pair.a.connect_all(Duration::from_secs(5)) && pair.b.connect_all(Duration::from_secs(5)));
    for _ in 0..100 {
        pair.advance(Duration::from_millis(5));
    }
    pair.media(&[(false, publisher)], 1000, 1);
    assert!(!video_ids(&pair.b, far).is_empty(), "the far subscriber receives");
    assert_eq!(pair.b.engine.rooms[&ROOM].remote.len(), 1, "one stand-in for the remote publisher");
    let now = pair.a.now;
    pair.a.engine.remove_peer(now, PeerId(1)).expect("remove");
    pair.a.pump();
    pair.relay();
    for _ in 0..50 {
        pair.advance(Duration::from_millis(5));
    }
    let r = &pair.b.engine.rooms[&ROOM];
    assert!(r.remote.is_empty() && r.tracks.is_empty(), "the stand-in and its tracks are gone");
    // No events about the remote tracks on the far worker: their own worker tells.
    assert!(pair.b.events.iter().all(|e| !matches!(e, SfuEvent::TrackPublished { .. })));
    let before = pair.b.clients[far].received.len();
    for _ in 0..100 {
        pair.advance(Duration::from_millis(5));
    }
    assert_eq!(pair.b.clients[far].received.len(), before, "nothing more arrives");
    assert_eq!(pair.b.engine.peer_count(), 1, "a stand-in is no peer");
}

#[test]
fn track_ids_are_unique_across_workers() {
    let mut pair = Pair::new();
    pair.a.join(ROOM, PeerId(1), true, true).expect("join");
    pair.b.join(ROOM, PeerId(2), true, true).expect("join");
    assert!(pair.a.connect_all(Duration::from_secs(5)) && pair.b.connect_all(Duration::from_secs(5)));
    pair.advance(Duration::from_millis(5));
    let ids: Vec<u64> = [&pair.a, &pair.b]
        .iter()
        .flat_map(|s| s.events.iter())
        .filter_map(|e| match e {
            SfuEvent::TrackPublished { track, .. } => Some(track.0),
            _ => None,
        })
        .collect();
    let unique: BTreeSet<_> = ids.iter().collect();
    assert_eq!(ids.len(), 4, "four tracks published: {ids:?}");
    assert_eq!(unique.len(), 4, "no id twice: {ids:?}");
    assert_eq!(pair.a.engine.rooms[&ROOM].tracks.len(), 4, "worker 0 knows all four");
    assert_eq!(pair.b.engine.rooms[&ROOM].tracks.len(), 4, "worker 1 knows all four");
}

#[test]
fn a_server_unmute_continues_the_track_without_a_gap_on_the_other_worker() {
    let mut pair = Pair::new();
    let publisher = pair.a.join(ROOM, PeerId(1), false, true).expect("join");
    let far = pair.b.join(ROOM, PeerId(3), false, false).expect("join");
    assert!(pair.a.connect_all(Duration::from_secs(5)) && pair.b.connect_all(Duration::from_secs(5)));
    for _ in 0..100 {
        pair.advance(Duration::from_millis(5));
    }
    let camera = pair
        .a
        .events
        .iter()
        .find_map(|e| match e {
            SfuEvent::TrackPublished { track, kind: TrackKind::Video, .. } => Some(*track),
            _ => None,
        })
        .expect("the camera");
    let mut id = pair.media(&[(false, publisher)], 1000, 1);
    let now = pair.a.now;
    pair.a.engine.set_muted(now, PeerId(1), camera, true).expect("mute");
    id = pair.media(&[(false, publisher)], 500, id);
    let muted_at = pair.b.clients[far].received.len();
    let now = pair.a.now;
    pair.a.engine.set_muted(now, PeerId(1), camera, false).expect("unmute");
    pair.a.pump();
    pair.relay();
    pair.media(&[(false, publisher)], 1000, id);
    let received = &pair.b.clients[far].received;
    assert!(received.len() > muted_at + 50, "the far subscriber receives again after the unmute");
    let mut seqs: Vec<u64> = received.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0] + 1, "no gap in the far subscriber's numbers across the mute");
    }
}

#[test]
fn a_layer_only_another_workers_subscribers_receive_is_not_stopped() {
    let mut pair = Pair::new();
    let publisher = pair.a.join_simulcast(ROOM, PeerId(1)).expect("join");
    pair.b.join(ROOM, PeerId(3), false, false).expect("join");
    assert!(pair.a.connect_all(Duration::from_secs(5)) && pair.b.connect_all(Duration::from_secs(5)));
    let layers = |pair: &mut Pair, ms: u64, id: &mut u64| {
        for t in 0..ms {
            if t % 10 == 0 {
                pair.a.send_video_layers(publisher, *id);
                *id += 1;
            }
            pair.advance(Duration::from_millis(1));
        }
    };
    let wanted = |sim: &Sim, from: usize| -> Vec<Vec<u8>> {
        sim.events[from..]
            .iter()
            .filter_map(|e| match e {
                SfuEvent::LayersWanted { active, .. } => Some(active.clone()),
                _ => None,
            })
            .collect()
    };
    let mut id = 1;
    // Worker 0 has no subscriber of the camera; worker 1's one shows it at
    // its best. Well past the 10 s after which a layer nobody wants stops.
    layers(&mut pair, 14_000, &mut id);
    // (The middle layer is nobody's: worker 1's venue gets the top one.)
    let said = wanted(&pair.a, 0);
    assert!(!said.is_empty() && said.iter().all(|a| a.contains(&2)), "the top layer stays on: {said:?}");
    // Its tile shrinks to a thumbnail: now the top one is nobody's either.
    let (told, now) = (pair.a.events.len(), pair.b.now);
    let b = &pair.b.engine;
    let camera = *b.rooms[&ROOM]
        .tracks
        .iter()
        .find(|(_, &(pk, ui))| {
            b.peers[pk].as_ref().and_then(|p| p.up[ui].as_ref()).is_some_and(|u| u.kind == TrackKind::Video)
        })
        .expect("the relayed camera")
        .0;
    pair.b.engine.set_tile_limits(now, PeerId(3), vec![(camera, Some(0))]).expect("limits");
    layers(&mut pair, 13_000, &mut id);
    assert_eq!(wanted(&pair.a, told).last(), Some(&vec![0]), "only the lowest is sent in the end");
}
