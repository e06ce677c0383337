//! Simulcast and bandwidth allocation on simulated time (issue 12): real
//! str0m peers publishing three layers, a subscriber behind a capped, lossy
//! link with a queue, the engine's send-side estimator and allocator.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::ROOM;
use huiyi_sfu::core::EngineConfig;
use huiyi_sfu::sim::{Link, Sim};
use huiyi_sfu::{PeerId, SfuEvent};

fn sim(seed: u64) -> Sim {
    common::sim_with(EngineConfig { bwe_initial: Some(1_000_000), ..EngineConfig::default() }, seed)
}

/// Runs `ms`: the publishers send their three layers every 10 ms and audio every 20 ms.
fn run(sim: &mut Sim, publishers: &[usize], ms: u64) {
    sim.run_media(publishers, ms, 0, true);
}

/// What client `i` received from packet `from` on: per video m-line, the
/// count per layer; and the audio packet count.
fn received(sim: &Sim, i: usize, from: usize) -> (BTreeMap<String, [u64; 3]>, u64) {
    let mut video: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    let mut audio = 0;
    for r in &sim.clients[i].received[from..] {
        if r.payload.len() >= 150 && r.payload[0] == 0x90 {
            video.entry(r.mid.to_string()).or_default()[usize::from(r.payload[5].min(2))] += 1;
        } else {
            audio += 1;
        }
    }
    (video, audio)
}

/// The video track `peer` published.
fn video_of(sim: &Sim, peer: PeerId) -> huiyi_sfu::TrackId {
    sim.events
        .iter()
        .find_map(|e| match e {
            SfuEvent::TrackPublished { peer: p, track, kind: huiyi_sfu::TrackKind::Video, .. }
                if *p == peer =>
            {
                Some(*track)
            }
            _ => None,
        })
        .expect("a video track")
}

fn setup(seed: u64) -> Sim {
    let mut sim = sim(seed);
    sim.join_simulcast(ROOM, PeerId(1)).expect("publisher 1");
    sim.join_simulcast(ROOM, PeerId(2)).expect("publisher 2");
    sim.join(ROOM, PeerId(3), true, false).expect("the township venue");
    assert!(sim.connect_all(Duration::from_secs(5)));
    sim
}

#[test]
fn a_subscriber_on_a_weak_line_gets_the_layers_that_fit_and_the_top_once_it_heals() {
    let mut sim = setup(21);
    // A township line: 600 kbit/s, 20-packet queue, 40 ms, 2 % loss.
    sim.clients[2].down_link = Some(Link::new(600_000, 20, Duration::from_millis(40), 0.02));
    run(&mut sim, &[0, 1], 15_000);
    let from = sim.clients[2].received.len();
    run(&mut sim, &[0, 1], 5_000);
    let (video, audio) = received(&sim, 2, from);
    println!("shaped, last 5 s: {video:?}, audio {audio}");
    assert_eq!(video.len(), 2, "both videos move: {video:?}");
    // Both at full frame rate in most runs (about 500 packets each); in 3
    // runs of 121 one video spent part of the window a frame-rate step
    // down (328 and 537 packets: the allocator's answer to a burst of
    // loss, and still moving video), so each must move at two thirds of
    // its rate or more, and together at 80 %.
    for (mid, layers) in &video {
        assert_eq!(layers[2], 0, "{mid}: no full-resolution layer through 600 kbit/s");
        assert!(
            layers[0] + layers[1] >= 300,
            "{mid}: moving video (≥ 60 of 100 packets a second): {layers:?}"
        );
    }
    let total: u64 = video.values().map(|l| l[0] + l[1]).sum();
    assert!(total >= 800, "together ≥ 80 % of both videos' packets: {video:?}");
    assert!(audio >= 450, "audio first: {audio} of 500 packets");
    let link = sim.clients[2].down_link.take().expect("link");
    println!("link dropped {} by queue, {} by loss", link.dropped_queue, link.dropped_loss);

    // Healed: both videos climb back to the top layer as the estimate
    // grows, measured second by second: back when both videos arrive whole
    // at the top layer two seconds running. On this simulated network,
    // whose str0m clients make the estimator's probes slow, that took 5–18
    // s in 100 runs (median 12); a fixed 20 s wait failed about 1 run in 50
    // (a stuck estimator's restart whose probes found only part of the
    // line, then the additive climb). The browser test holds the issue's
    // 10 s. Before stuck estimators were restarted, one run in eight stayed
    // at the lowest layer for good (stale::StaleEstimate).
    let mut whole_seconds = 0;
    let mut recovery = None;
    for second in 1..=40 {
        let from = sim.clients[2].received.len();
        run(&mut sim, &[0, 1], 1_000);
        let (video, _) = received(&sim, 2, from);
        let whole = video.len() == 2 && video.values().all(|l| l[2] >= 93);
        whole_seconds = if whole { whole_seconds + 1 } else { 0 };
        if whole_seconds == 2 {
            recovery = Some(second - 1);
            break;
        }
    }
    println!("healed: both videos back at the top layer after {recovery:?} s");
    assert!(recovery.is_some(), "both videos back at the top layer within 40 s of the heal");
}

#[test]
fn a_video_that_does_not_fit_at_all_is_paused_and_said_so_and_audio_goes_on() {
    let mut sim = setup(22);
    // Room for the two audio streams (about 140 kbit/s with overhead), not for any video.
    sim.clients[2].down_link = Some(Link::new(200_000, 20, Duration::from_millis(40), 0.0));
    run(&mut sim, &[0, 1], 15_000);
    let paused: Vec<_> =
        sim.events.iter().filter(|e| matches!(e, SfuEvent::VideoPaused { peer: PeerId(3), .. })).collect();
    assert!(!paused.is_empty(), "the subscriber is told");
    let from = sim.clients[2].received.len();
    run(&mut sim, &[0, 1], 5_000);
    let (video, audio) = received(&sim, 2, from);
    println!("200 kbit/s, last 5 s: {video:?}, audio {audio}");
    let video_packets: u64 = video.values().flat_map(|l| l.iter()).sum();
    assert!(video_packets <= 500, "at most one lowest layer fits: {video:?}");
    assert!(audio >= 475, "audio is never what gives: {audio} of 500");
    // Healed: resumed, and said so.
    sim.clients[2].down_link = None;
    run(&mut sim, &[0, 1], 10_000);
    assert!(sim.events.iter().any(|e| matches!(e, SfuEvent::VideoResumed { peer: PeerId(3), .. })));
}

#[test]
fn subscribers_on_the_lan_get_the_top_layer_of_every_video() {
    let mut sim = setup(23);
    // The estimate starts at 1 Mbit/s and is probed up. On this simulated
    // network it first falls (to ~140 kbit/s within a second) and climbs in
    // plateaus that the stuck-estimator restart lifts every ~3 s: the top
    // layer (2.6 Mbit/s for both) came at 13–17 s in 24 runs; 22 s leaves room.
    run(&mut sim, &[0, 1], 22_000);
    let from = sim.clients[2].received.len();
    let before = sim.engine.counters();
    run(&mut sim, &[0, 1], 2_000);
    let after = sim.engine.counters();
    let (video, _) = received(&sim, 2, from);
    for (mid, layers) in &video {
        assert!(layers[2] >= 190, "{mid}: the top layer: {layers:?}");
    }
    // Every subscriber has all it wants: forwarded packets leave in the
    // forwarding call, not through a pacer pass (ADR 0020, 0021).
    let (forwarded, direct) =
        (after.forwarded - before.forwarded, after.sent_directly - before.sent_directly);
    assert!(direct * 100 >= forwarded * 95, "{direct} of {forwarded} sent in the forwarding call");
    assert_eq!(after.sent_paced, before.sent_paced, "no line is the limit");
    // The publishers see each other's top layers too.
    let (video, _) = received(&sim, 0, sim.clients[0].received.len().saturating_sub(300));
    assert!(video.values().all(|l| l[2] > 0), "{video:?}");
}

#[test]
fn a_subscriber_gets_no_more_than_its_tiles_show() {
    let mut sim = setup(24);
    run(&mut sim, &[0, 1], 3_000);
    let (first, second) = (video_of(&sim, PeerId(1)), video_of(&sim, PeerId(2)));
    // A thumbnail of the first, the second not shown at all.
    let now = sim.now;
    let told = sim.events.len();
    sim.engine.set_tile_limits(now, PeerId(3), vec![(first, Some(0)), (second, None)]).expect("limits");
    run(&mut sim, &[0, 1], 4_000);
    let from = sim.clients[2].received.len();
    run(&mut sim, &[0, 1], 2_000);
    let (video, audio) = received(&sim, 2, from);
    println!("thumbnail + hidden: {video:?}");
    assert_eq!(video.len(), 1, "nothing of the hidden video: {video:?}");
    let layers = video.values().next().expect("one");
    assert!(layers[0] >= 150 && layers[1] + layers[2] == 0, "the smallest layer only: {layers:?}");
    assert!(audio >= 190, "audio untouched: {audio}");
    assert!(
        !sim.events[told..].iter().any(|e| matches!(e, SfuEvent::VideoPaused { .. })),
        "a video not shown is not paused for bandwidth: nothing to tell"
    );
}

#[test]
fn publishers_are_asked_to_stop_layers_nobody_receives_and_to_send_them_again() {
    let mut sim = setup(25);
    run(&mut sim, &[0, 1], 3_000);
    let (first, second) = (video_of(&sim, PeerId(1)), video_of(&sim, PeerId(2)));
    let wanted = |sim: &Sim, from: usize, track| -> Vec<Vec<u8>> {
        sim.events[from..]
            .iter()
            .filter_map(|e| match e {
                SfuEvent::LayersWanted { track: t, active, .. } if *t == track => Some(active.clone()),
                _ => None,
            })
            .collect()
    };
    let before = sim.events.len();
    run(&mut sim, &[0, 1], 2_000);
    assert!(wanted(&sim, before, first).is_empty(), "all layers in use: nothing to say");
    // The publishers do not show each other; the township venue shows the
    // first as a thumbnail and hides the second.
    let now = sim.now;
    let told = sim.events.len();
    sim.engine.set_tile_limits(now, PeerId(1), vec![(second, None)]).expect("limits");
    sim.engine.set_tile_limits(now, PeerId(2), vec![(first, None)]).expect("limits");
    sim.engine.set_tile_limits(now, PeerId(3), vec![(first, Some(0)), (second, None)]).expect("limits");
    run(&mut sim, &[0, 1], 5_000);
    assert!(wanted(&sim, told, first).is_empty(), "not before nobody wanted them for a while");
    run(&mut sim, &[0, 1], 8_000);
    for (track, which) in [(first, "the first"), (second, "the second")] {
        let said = wanted(&sim, told, track);
        assert!(!said.is_empty() && said.len() <= 2, "{which}: told once or twice: {said:?}");
        assert!(
            said.iter().all(|a| a.contains(&0)),
            "{which}: the lowest stays on (a newcomer's picture): {said:?}"
        );
        assert_eq!(said.last(), Some(&vec![0]), "{which}: in the end only its lowest layer is sent");
    }
    // The tile grows to the middle size: that layer is still on offer and asked for again.
    let now = sim.now;
    let grown = sim.events.len();
    sim.engine.set_tile_limits(now, PeerId(3), vec![(first, Some(1))]).expect("limits");
    run(&mut sim, &[0, 1], 1_000);
    let again = wanted(&sim, grown, first);
    assert!(again.last().is_some_and(|a| a.contains(&1)), "the middle layer is asked for again: {again:?}");
    let from = sim.clients[2].received.len();
    run(&mut sim, &[0, 1], 3_000);
    let (video, _) = received(&sim, 2, from);
    println!("after the tile grew: {video:?}");
    assert!(video.values().any(|l| l[1] >= 100), "the middle layer flows to the venue: {video:?}");
}

#[test]
fn a_line_too_narrow_for_the_lowest_layer_gets_it_at_a_lower_frame_rate_without_gaps() {
    let mut sim = sim(23);
    sim.join_simulcast(ROOM, PeerId(1)).expect("publisher 1");
    sim.join_simulcast(ROOM, PeerId(2)).expect("publisher 2");
    sim.join(ROOM, PeerId(3), true, false).expect("the township venue");
    sim.clients[0].temporal = true;
    sim.clients[1].temporal = true;
    assert!(sim.connect_all(Duration::from_secs(5)));
    // Room for the audio (about 140 kbit/s with overhead) and one lowest
    // layer whole (about 150 kbit/s: the speaker's), not for two.
    sim.clients[2].down_link = Some(Link::new(340_000, 20, Duration::from_millis(40), 0.0));
    run(&mut sim, &[0, 1], 5_000);
    let drops = |sim: &Sim| sim.clients[2].down_link.as_ref().map_or(0, |l| l.dropped_queue);
    let drops_from = drops(&sim);
    run(&mut sim, &[0, 1], 10_000);
    let from = sim.clients[2].received.len();
    let before = sim.engine.counters();
    let events_from = sim.events.len();
    run(&mut sim, &[0, 1], 5_000);
    let after = sim.engine.counters();
    let told_paused =
        sim.events[events_from..].iter().any(|e| matches!(e, SfuEvent::VideoPaused { peer: PeerId(3), .. }));
    // Per video m-line: (sequence number, picture id) of each packet (one
    // frame each), and the temporal layers seen.
    type Frames = (Vec<(u64, u16)>, [u64; 3]);
    let mut seen: BTreeMap<String, Frames> = BTreeMap::new();
    let mut audio = 0;
    for r in &sim.clients[2].received[from..] {
        let Some(f) = huiyi_sfu::core::vp8::parse(&r.payload).filter(|_| r.payload.len() >= 150) else {
            audio += 1;
            continue;
        };
        let (at, _) = huiyi_sfu::core::vp8::frame_data(&r.payload).expect("descriptor");
        assert_eq!(r.payload[at + 1], 0, "only the lowest spatial layer fits");
        let e = seen.entry(r.mid.to_string()).or_default();
        e.0.push((r.seq, f.picture_id.expect("picture id").0));
        e.1[usize::from(f.temporal.expect("temporal layer"))] += 1;
    }
    println!(
        "340 kbit/s, last 5 s: audio {audio}, video {:?}, told of a pause: {told_paused}",
        seen.values().map(|v| v.1).collect::<Vec<_>>()
    );
    assert_eq!(seen.len(), 2, "both videos move");
    // One at least keeps its base layer (25 frames a second). The other may
    // be paused for a while when the estimate settles below the line's
    // rate: the focus keeps its lowest picture's full rate before another
    // video's base layer (ADR 0010, "Temporal layers"), and another video
    // that does not fit is paused after the grace. (Seen in about one run
    // in ten: 86 and 56 frames of the other in the 5 s.) It still moves
    // for most of the window, or, paused for longer (25 and 39 frames, in
    // about one run in fifty), the venue is told so in the window and it
    // still moves in it.
    assert!(
        seen.values().any(|(packets, _)| packets.len() >= 100),
        "one video at least at its base layer's 25 frames a second: {:?}",
        seen.values().map(|v| v.1).collect::<Vec<_>>()
    );
    let mut thinned = false;
    for (mid, (packets, temporal)) in &seen {
        assert!(
            packets.len() >= 40 || (told_paused && packets.len() >= 20),
            "{mid}: moves for most of the 5 s, or is paused and said so: {temporal:?} (told: {told_paused})"
        );
        // (Each layer sends 250 TL2 frames in 5 s.) Thinned: a fifth or
        // more of them left out. The share moves between runs as the
        // estimate settles near the line's rate: one video below half, or
        // both near 60 % while the allocation alternates between them;
        // both are a lower frame rate.
        thinned |= temporal[2] < 200;
        // The frames left out leave no gap: the receiver sees neither lost
        // packets nor missing pictures for them (half the frames or more of
        // a thinned video: as many as it receives). What is missing is what
        // the congested link lost and no repair brought (each packet is a
        // frame, so its picture id is missing with it): up to a third when
        // the estimate overshoots this narrow link for a while.
        let mut sorted = packets.clone();
        sorted.sort_unstable();
        sorted.dedup();
        let missing: u64 = sorted.windows(2).map(|w| w[1].0 - w[0].0 - 1).sum();
        assert!(
            missing * 2 <= sorted.len() as u64,
            "{mid}: {missing} sequence numbers missing of {}",
            sorted.len()
        );
        let offset = |(seq, pic): (u64, u16)| (seq as u16).wrapping_sub(pic) & 0x7fff;
        assert!(
            sorted.iter().all(|p| offset(*p) == offset(sorted[0])),
            "{mid}: picture ids run with the sequence numbers"
        );
    }
    assert!(thinned, "a video goes at a lower frame rate: {seen:?}");
    // A line that is the limit and loses packets is paced: what is forwarded
    // to it goes through its pacer, which sends audio ahead of the video it
    // holds (ADR 0021), for most of the window (53–100 % of what it
    // received in 16 runs: a spell without loss ends the pacing for a
    // while). Since ADR 0026 no periodic probe floods the line while the
    // estimate covers the subscriber's want, and in some runs (about one in
    // twenty) the line lost only a few packets in the 15 s before the
    // window's end (11 in those seen, against 57 to 351 in 60 others): it is
    // paced only after them, or not at all, and needs not be more.
    let paced = after.sent_paced - before.sent_paced;
    let received = (sim.clients[2].received.len() - from) as u64;
    let dropped = drops(&sim) - drops_from;
    println!("{paced} packets paced of {received} received; the line dropped {dropped} in the last 15 s");
    if dropped >= 30 {
        assert!(paced * 3 >= received, "{paced} packets paced, the venue received {received}");
    }
    assert!(audio >= 450, "audio first: {audio} of 500");
}

/// ADR 0028: a venue without an estimator (a meeting over
/// `sfu.bwe_max_room_peers`; here the whole server has none) on a township
/// line is limited by what its receiver reports say it loses: the lowest
/// layer, not the megabit it was sent before; healed, it climbs back.
#[test]
fn a_venue_without_an_estimator_is_limited_by_its_receiver_reports() {
    let mut sim = common::sim_with(EngineConfig { bwe_initial: None, ..EngineConfig::default() }, 29);
    sim.join_simulcast(ROOM, PeerId(1)).expect("publisher");
    sim.join(ROOM, PeerId(2), true, false).expect("the township venue");
    assert!(sim.connect_all(Duration::from_secs(5)));
    // 400 kbit/s, 20-packet queue, 40 ms, 5 % loss: room for the audio and
    // the lowest layer (~290 kbit/s with overhead), not the middle one.
    sim.clients[1].down_link = Some(Link::new(400_000, 20, Duration::from_millis(40), 0.05));
    run(&mut sim, &[0], 15_000);
    let from = sim.clients[1].received.len();
    run(&mut sim, &[0], 30_000);
    let (video, audio) = received(&sim, 1, from);
    let link = sim.clients[1].down_link.take().expect("link");
    println!(
        "400 kbit/s, 5 %, 30 s: {video:?}, audio {audio}; link dropped {} by queue, {} by loss",
        link.dropped_queue, link.dropped_loss
    );
    let layers = video.values().next().copied().unwrap_or_default();
    // Mostly the lowest layer (100 packets a second, less the line's 5 %);
    // the middle one is tried again after 8, 16, then 32 s, for a second
    // or two each time; the top one never. (30 seeds: lowest 2 537–2 787
    // packets, middle 6–14 % of them, audio 1 387–1 427.)
    assert_eq!(layers[2], 0, "not the top layer: {layers:?}");
    assert!(layers[0] >= 2_300, "the lowest layer moves: {layers:?}");
    assert!(layers[1] * 100 <= (layers[0] + layers[1]) * 20, "the middle layer rarely: {layers:?}");
    assert!(audio >= 1_350, "audio: {audio} of 1 500 packets (the line loses 5 %)");

    // Healed: the limit grows 8 % a second until it limits nothing.
    let mut recovery = None;
    for second in 1..=60 {
        let from = sim.clients[1].received.len();
        run(&mut sim, &[0], 1_000);
        let (video, _) = received(&sim, 1, from);
        if video.values().any(|l| l[2] >= 90) {
            recovery = Some(second);
            break;
        }
    }
    println!("healed: at the top layer after {recovery:?} s");
    // At most the longest backoff (32 s) and the climb from the middle
    // layer to the top (~11 s at 8 % a second): 14–40 s in 30 seeds.
    let recovery = recovery.expect("back at the top layer within a minute");
    assert!(recovery >= 5, "climbed, not jumped: {recovery} s");
}
