//! What the control plane sets for a whole room, on simulated time: audio
//! top-N (issue 15) and the recording tap (issue 16).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{payload_id, run_media, sim_with, ROOM};
use huiyi_sfu::core::EngineConfig;
use huiyi_sfu::sim::Sim;
use huiyi_sfu::{PeerId, SfuEvent, Tap, TapCodec, TapKind, TrackId, TrackKind};

/// Audio top-N (issue 15): in a large room only the microphones that speak
/// are forwarded, two at a time here; a slot passes on after its holder's
/// hangover, the next voice is heard from its first packet, a microphone
/// that gets a slot back resumes without a gap, and the chair is always heard.
#[test]
fn audio_top_n_forwards_the_speaking_microphones_only() {
    let cfg = EngineConfig {
        audio_top_n: 2,
        audio_top_n_min_peers: 2,
        voice_lines: false,
        ..EngineConfig::default()
    };
    let mut sim = sim_with(cfg, 11);
    for i in 0..6 {
        sim.join(ROOM, PeerId(i), true, false).expect("join");
    }
    assert!(sim.connect_all(Duration::from_secs(5)), "peers connect");
    let listener = 5;
    // Who speaks (-30 dBov) in each tick of 20 ms; the others send silence.
    let mut tick = 0u64;
    let mut run = |sim: &mut Sim, ticks: u64, speaking: &[usize]| {
        for _ in 0..ticks {
            tick += 1;
            for p in 0..6 {
                let level = if speaking.contains(&p) { -30 } else { -127 };
                sim.send_audio_at_level(p, p as u64 * 1_000_000 + tick, level);
            }
            sim.advance(Duration::from_millis(20));
        }
    };
    // The packets the listener got from each publisher since `from`.
    let heard = |sim: &Sim, from: usize| -> [usize; 6] {
        let mut n = [0; 6];
        for r in &sim.clients[listener].received[from..] {
            n[(payload_id(false, &r.payload) / 1_000_000) as usize] += 1;
        }
        n
    };

    let start = sim.clients[listener].received.len();
    run(&mut sim, 50, &[0, 1]);
    let n = heard(&sim, start);
    assert!(n[0] >= 45 && n[1] >= 45, "the two speakers are heard from the start: {n:?}");
    assert_eq!(n[2] + n[3] + n[4], 0, "open but silent microphones are not forwarded: {n:?}");
    assert!(sim.engine.counters().audio_unselected > 0);

    // 0 falls silent but keeps its slot through its hangover; 2 starts
    // speaking and gets the slot once the hangover (1.5 s) is over.
    let at = sim.clients[listener].received.len();
    run(&mut sim, 50, &[1, 2]);
    let n = heard(&sim, at);
    assert!(n[0] >= 45, "0's pause is forwarded while it holds the slot: {n:?}");
    assert_eq!(n[2], 0, "2 waits for a slot: {n:?}");
    let at = sim.clients[listener].received.len();
    run(&mut sim, 50, &[1, 2]);
    let n = heard(&sim, at);
    assert!(n[2] >= 20, "2 took 0's slot after the hangover: {n:?}");
    assert!(n[0] <= 30, "0 lost its slot: {n:?}");

    // 1 stops; 0 speaks again and gets 1's slot after the hangover: its
    // stream resumes at the listener with the next sequence number.
    run(&mut sim, 100, &[0, 2]);
    // The chair is heard whatever the slots say.
    sim.engine.set_always_heard(ROOM, vec![PeerId(4)]).expect("room");
    let at = sim.clients[listener].received.len();
    run(&mut sim, 50, &[0, 2, 4]);
    let n = heard(&sim, at);
    assert!(n[0] >= 45 && n[2] >= 45 && n[4] >= 45, "two slots and the chair: {n:?}");
    assert_eq!(n[1] + n[3], 0, "{n:?}");
    let from0: Vec<_> = sim.clients[listener].received[start..]
        .iter()
        .filter(|r| payload_id(false, &r.payload) / 1_000_000 == 0)
        .collect();
    assert!(from0.len() > 150, "0 was heard in three spells");
    for w in from0.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1, "0's stream has no gap where it was not forwarded");
    }
}

/// Voice lines (issue 15, ADR 0015): who joins a large room receives audio
/// on one m-line per slot (two voices and two always-heard here), whichever
/// microphone holds it, with no gap in a line's numbers when its speaker
/// changes, and never its own voice; who joined before keeps a line per
/// microphone; a speaker who leaves frees its line for the next.
#[test]
fn listeners_of_a_large_room_hear_the_slots_on_voice_lines() {
    let cfg = EngineConfig { audio_top_n: 2, audio_top_n_min_peers: 3, ..EngineConfig::default() };
    let mut sim = sim_with(cfg, 12);
    for i in 0..6 {
        sim.join(ROOM, PeerId(i), true, false).expect("join");
    }
    assert!(sim.connect_all(Duration::from_secs(5)), "peers connect");
    let mut tick = 0u64;
    let left = std::cell::Cell::new(None);
    let mut run = |sim: &mut Sim, ticks: u64, speaking: &[usize]| {
        for _ in 0..ticks {
            tick += 1;
            for p in 0..6 {
                if left.get() == Some(p) {
                    continue;
                }
                let level = if speaking.contains(&p) { -30 } else { -127 };
                sim.send_audio_at_level(p, p as u64 * 1_000_000 + tick, level);
            }
            sim.advance(Duration::from_millis(20));
        }
    };
    // Per publisher: packets client `c` got from it since `from`, and the
    // m-lines they came on.
    let heard = |sim: &Sim, c: usize, from: usize| -> Vec<(usize, Vec<String>)> {
        let mut n = vec![(0, Vec::new()); 6];
        for r in &sim.clients[c].received[from..] {
            let (count, mids) = &mut n[(payload_id(false, &r.payload) / 1_000_000) as usize];
            *count += 1;
            if !mids.contains(&r.mid.to_string()) {
                mids.push(r.mid.to_string());
            }
        }
        n
    };
    let (listener, early) = (5, 0);
    let start = [0, 1, 2, 3, 4, 5].map(|c| sim.clients[c].received.len());
    run(&mut sim, 50, &[0, 1]);
    let n = heard(&sim, listener, start[listener]);
    assert!(n[0].0 >= 45 && n[1].0 >= 45, "the two speakers: {n:?}");
    assert_eq!(n[2].0 + n[3].0 + n[4].0, 0, "silent microphones are not forwarded: {n:?}");
    let line0 = n[0].1.clone();
    assert_eq!(line0.len(), 1, "one line per voice: {n:?}");
    assert_ne!(n[0].1, n[1].1, "two voices, two lines: {n:?}");

    // 0 falls silent; 2 takes its slot after the hangover, on the same line.
    let at = sim.clients[listener].received.len();
    let at2 = sim.clients[2].received.len();
    run(&mut sim, 130, &[1, 2]);
    let n = heard(&sim, listener, at);
    assert!(n[2].0 >= 20, "2 took 0's slot: {n:?}");
    assert_eq!(n[2].1, line0, "on 0's line: {n:?}");
    let own = heard(&sim, 2, at2);
    assert_eq!(own[2].0, 0, "a speaker does not hear itself on its voice lines: {own:?}");
    assert!(own[1].0 >= 100, "but hears the other voice: {own:?}");

    // The chair is heard whatever the slots say, on a line of its own.
    sim.engine.set_always_heard(ROOM, vec![PeerId(4)]).expect("room");
    let at = sim.clients[listener].received.len();
    run(&mut sim, 50, &[1, 2, 4]);
    let n = heard(&sim, listener, at);
    assert!(n[1].0 >= 45 && n[2].0 >= 45 && n[4].0 >= 45, "two slots and the chair: {n:?}");
    assert!(!n[4].1.contains(&n[1].1[0]) && !n[4].1.contains(&n[2].1[0]), "{n:?}");

    // The early peer has a line per microphone.
    let e = heard(&sim, early, start[early]);
    assert!(e[1].0 >= 200 && e[2].0 >= 100 && e[4].0 >= 45, "{e:?}");
    assert!(e[1].1 != e[2].1 && e[2].1 != e[4].1, "a line per microphone: {e:?}");

    // 1 leaves: its line is free for the next voice.
    let line1 = heard(&sim, listener, start[listener])[1].1.clone();
    sim.engine.remove_peer(sim.now, PeerId(1)).expect("leaves");
    left.set(Some(1));
    let at = sim.clients[listener].received.len();
    run(&mut sim, 50, &[2, 3, 4]);
    let n = heard(&sim, listener, at);
    assert!(n[3].0 >= 45, "3 takes the freed slot at once: {n:?}");
    assert_eq!(n[3].1, line1, "on 1's line: {n:?}");

    // Each line's numbers run on whoever speaks on it.
    let mut per_mid: HashMap<String, Vec<u64>> = HashMap::new();
    for r in &sim.clients[listener].received[start[listener]..] {
        per_mid.entry(r.mid.to_string()).or_default().push(r.seq);
    }
    assert!(per_mid.len() <= 4, "two voice lines and two for the always-heard: {:?}", per_mid.keys());
    for (mid, seqs) in &per_mid {
        for w in seqs.windows(2) {
            assert_eq!(w[1], w[0] + 1, "line {mid} has no gap when its speaker changes");
        }
    }
}

/// Recording: while a room is recorded each published packet is copied to
/// the tap once (not per subscriber), with its codec and track; a muted
/// track's packets are not; after the tap is removed nothing more comes.
#[test]
fn a_recorded_room_copies_each_published_packet_to_its_tap() {
    let mut sim = sim_with(EngineConfig::default(), 21);
    for i in 1..=3 {
        sim.join(ROOM, PeerId(i), true, true).expect("join");
    }
    assert!(sim.connect_all(Duration::from_secs(5)), "peers connect");
    for _ in 0..100 {
        sim.advance(Duration::from_millis(5));
    }
    let published: Vec<(TrackId, PeerId, TrackKind)> = sim
        .events
        .iter()
        .filter_map(|e| match e {
            SfuEvent::TrackPublished { peer, track, kind, .. } => Some((*track, *peer, *kind)),
            _ => None,
        })
        .collect();
    let tracks: HashMap<TrackId, PeerId> = published.iter().map(|(t, p, _)| (*t, *p)).collect();
    assert_eq!(tracks.len(), 6);
    let (tap, rx) = Tap::new(100_000);
    sim.engine.set_tap(sim.now, ROOM, TapKind::Recording, Some(tap.clone())).expect("room");
    run_media(&mut sim, &[0, 1, 2], 1000, 1);
    let mut per: HashMap<(PeerId, TapCodec), Vec<u64>> = HashMap::new();
    for p in rx.try_iter() {
        assert_eq!(tracks.get(&p.track), Some(&p.publisher), "the track is its publisher's");
        per.entry((p.publisher, p.codec)).or_default().push(payload_id(p.codec == TapCodec::Vp8, &p.payload));
    }
    for i in 1..=3 {
        let audio = per.get(&(PeerId(i), TapCodec::Opus)).map_or(0, Vec::len);
        let video = per.get(&(PeerId(i), TapCodec::Vp8)).map_or(0, Vec::len);
        assert!((45..=51).contains(&audio), "peer {i}: 50 audio packets sent, each copied once: {audio}");
        assert!((95..=101).contains(&video), "peer {i}: 100 video packets, each once: {video}");
    }
    assert_eq!(tap.dropped(), 0);
    // Peer 2's microphone muted by the chair: its copies stop too.
    let mic = published
        .iter()
        .find(|(_, p, k)| *p == PeerId(2) && *k == TrackKind::Audio)
        .map(|(t, ..)| *t)
        .expect("peer 2's microphone");
    sim.engine.set_muted(sim.now, PeerId(2), mic, true).expect("mute");
    run_media(&mut sim, &[0, 1, 2], 500, 10_000);
    let copied: Vec<(PeerId, TapCodec)> = rx.try_iter().map(|p| (p.publisher, p.codec)).collect();
    assert!(!copied.contains(&(PeerId(2), TapCodec::Opus)), "a muted microphone is not recorded");
    assert!(copied.contains(&(PeerId(2), TapCodec::Vp8)) && copied.contains(&(PeerId(1), TapCodec::Opus)));
    // Stopped: the tap gets nothing more.
    sim.engine.set_tap(sim.now, ROOM, TapKind::Recording, None).expect("room");
    run_media(&mut sim, &[0, 1, 2], 200, 20_000);
    assert_eq!(rx.try_iter().count(), 0, "nothing after the recording stopped");
    assert!(
        sim.engine.set_tap(sim.now, huiyi_sfu::RoomId(9), TapKind::Recording, None).is_err(),
        "no such room"
    );
}

/// A WHEP viewer (issue 16) receives on its own offer's two lines what the
/// control plane binds them to, never the server's offers; moved to another
/// publisher, its video goes on with the next sequence number (from that
/// publisher's keyframe); unbound, nothing comes; the bound publisher
/// leaving leaves the line unbound, not removed.
#[test]
fn a_viewer_receives_what_its_lines_are_bound_to() {
    let mut sim = sim_with(EngineConfig::default(), 31);
    for i in 1..=2 {
        sim.join(ROOM, PeerId(i), true, true).expect("join");
    }
    sim.viewers = true;
    let viewer = sim.join(ROOM, PeerId(9), false, false).expect("a viewer joins");
    assert!(sim.connect_all(Duration::from_secs(5)), "peers connect");
    for _ in 0..100 {
        sim.advance(Duration::from_millis(5));
    }
    let offers_to_viewer =
        sim.events.iter().filter(|e| matches!(e, SfuEvent::OfferReady { peer: PeerId(9), .. })).count();
    assert_eq!(offers_to_viewer, 0, "a viewer is never sent an offer");
    let track = |sim: &Sim, peer: u64, kind: TrackKind| {
        sim.events
            .iter()
            .find_map(|e| match e {
                SfuEvent::TrackPublished { peer: p, track, kind: k, .. }
                    if *p == PeerId(peer) && *k == kind =>
                {
                    Some(*track)
                }
                _ => None,
            })
            .expect("published")
    };
    let from = |sim: &Sim, at: usize, video: bool| -> Vec<(u64, u64)> {
        sim.clients[viewer].received[at..]
            .iter()
            .filter(|r| (r.payload.len() > 500) == video)
            .map(|r| (payload_id(video, &r.payload), r.seq))
            .collect()
    };
    // Nothing bound: nothing comes.
    run_media(&mut sim, &[0, 1], 300, 1);
    assert!(sim.clients[viewer].received.is_empty(), "unbound lines stay silent");
    // Bound to publisher 1.
    let now = sim.now;
    sim.engine
        .bind_viewer(now, PeerId(9), TrackKind::Video, Some(track(&sim, 1, TrackKind::Video)))
        .expect("bind");
    sim.engine
        .bind_viewer(now, PeerId(9), TrackKind::Audio, Some(track(&sim, 1, TrackKind::Audio)))
        .expect("bind");
    let at = sim.clients[viewer].received.len();
    run_media(&mut sim, &[1], 300, 500);
    assert!(sim.clients[viewer].received.len() == at, "publisher 2 alone sends: the viewer gets none of it");
    run_media(&mut sim, &[0, 1], 500, 1_000);
    let video = from(&sim, at, true);
    let audio = from(&sim, at, false);
    assert!(video.len() >= 20, "publisher 1's video comes (from a keyframe): {}", video.len());
    assert!(audio.len() >= 20, "its audio too: {}", audio.len());
    // Moved to publisher 2: the video goes on from its keyframe, numbers continuous.
    let last_seq = video.last().expect("video").1;
    let now = sim.now;
    sim.engine
        .bind_viewer(now, PeerId(9), TrackKind::Video, Some(track(&sim, 2, TrackKind::Video)))
        .expect("bind");
    let at = sim.clients[viewer].received.len();
    run_media(&mut sim, &[0, 1], 500, 10_000);
    let moved = from(&sim, at, true);
    assert!(moved.len() >= 20, "publisher 2's video comes: {}", moved.len());
    assert_eq!(moved[0].1, last_seq + 1, "the line's numbers go on across the move");
    // Unbound: it stops.
    let now = sim.now;
    sim.engine.bind_viewer(now, PeerId(9), TrackKind::Video, None).expect("unbind");
    sim.engine.bind_viewer(now, PeerId(9), TrackKind::Audio, None).expect("unbind");
    let at = sim.clients[viewer].received.len();
    run_media(&mut sim, &[0, 1], 300, 20_000);
    assert!(
        from(&sim, at, true).len() + from(&sim, at, false).len() <= 2,
        "unbound: nothing (but in flight)"
    );
    assert!(
        sim.engine.bind_viewer(now, PeerId(1), TrackKind::Video, None).is_err(),
        "a participant is no viewer"
    );
}

/// A viewer is bound at once, before str0m has announced its lines (the
/// signaling binds it right after its offer): the lines take the binding
/// when they appear, and media flows once it connects.
#[test]
fn a_viewer_bound_before_its_lines_appear_receives_once_connected() {
    let mut sim = sim_with(EngineConfig::default(), 32);
    sim.join(ROOM, PeerId(1), true, true).expect("join");
    for _ in 0..100 {
        sim.advance(Duration::from_millis(5));
    }
    let video = sim
        .events
        .iter()
        .find_map(|e| match e {
            SfuEvent::TrackPublished { track, kind: TrackKind::Video, .. } => Some(*track),
            _ => None,
        })
        .expect("published");
    sim.viewers = true;
    let viewer = sim.join(ROOM, PeerId(9), false, false).expect("a viewer joins");
    let now = sim.now;
    sim.engine.bind_viewer(now, PeerId(9), TrackKind::Video, Some(video)).expect("bind");
    assert!(sim.connect_all(Duration::from_secs(5)), "peers connect");
    run_media(&mut sim, &[0], 1000, 1);
    let n = sim.clients[viewer].received.len();
    assert!(n >= 50, "the viewer receives the video: {n} packets");
}
