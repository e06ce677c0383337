//! The forwarding core on simulated time: real str0m peers (ICE, DTLS, SRTP)
//! on a simulated, optionally lossy, network around one engine.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

mod common;

use huiyi_sfu::core::EngineConfig;
use huiyi_sfu::sim::Sim;
use huiyi_sfu::{LeaveReason, PeerId, SfuEvent};

use common::{payload_id, run_media, sim_with, ROOM};

fn sim(seed: u64) -> Sim {
    sim_with(EngineConfig::default(), seed)
}

/// A video publisher and a subscriber, connected and negotiated.
fn one_publisher_one_subscriber(seed: u64) -> (Sim, usize, usize) {
    let mut sim = sim(seed);
    let publisher = sim.join(ROOM, PeerId(1), false, true).expect("join");
    let subscriber = sim.join(ROOM, PeerId(2), false, false).expect("join");
    assert!(sim.connect_all(Duration::from_secs(5)));
    for _ in 0..100 {
        sim.advance(Duration::from_millis(5));
    }
    (sim, publisher, subscriber)
}

/// `peers` cameras, connected, after 300 ms of the first one's media (its
/// keyframe requests and the first layer choices settled), and the next 20
/// video packets it writes, captured rather than sent.
fn cameras_settled(seed: u64, peers: u64) -> (Sim, Vec<(SocketAddr, Vec<u8>)>) {
    let mut sim = sim(seed);
    for i in 0..peers {
        sim.join(ROOM, PeerId(i), false, true).expect("join");
    }
    assert!(sim.connect_all(Duration::from_secs(5)), "peers connect");
    run_media(&mut sim, &[0], 300, 1);
    let datagrams = sim.capture_video(0, 20);
    assert_eq!(datagrams.len(), 20, "the publisher wrote 20 packets");
    (sim, datagrams)
}

/// Every video packet from the first the subscriber got up to `last`
/// (exclusive) reached it, originally or repaired.
fn assert_every_video_packet_arrived(sim: &Sim, subscriber: usize, last: u64) {
    let got: BTreeSet<u64> =
        sim.clients[subscriber].received.iter().map(|r| payload_id(true, &r.payload)).collect();
    let first = *got.first().expect("video arrived");
    let expected: BTreeSet<u64> = (first..last).collect();
    let missing: Vec<_> = expected.difference(&got).collect();
    assert!(expected.len() > 900, "about 1 000 packets were sent after the first keyframe");
    assert!(missing.is_empty(), "{} of {} packets never arrived: {missing:?}", missing.len(), expected.len());
}

#[test]
fn three_peers_receive_each_other_in_order() {
    let mut sim = sim(1);
    for i in 0..3 {
        sim.join(ROOM, PeerId(i), true, true).expect("join");
    }
    assert!(sim.connect_all(Duration::from_secs(5)), "all peers connect");
    // Let every subscription be negotiated.
    for _ in 0..100 {
        sim.advance(Duration::from_millis(5));
    }
    run_media(&mut sim, &[0, 1, 2], 3000, 1);
    for (i, c) in sim.clients.iter().enumerate() {
        let mids: BTreeSet<_> = c.received.iter().map(|r| r.mid).collect();
        assert_eq!(mids.len(), 4, "client {i} receives 2 audio + 2 video tracks, got {mids:?}");
        for mid in mids {
            let packets: Vec<_> = c.received.iter().filter(|r| r.mid == mid).collect();
            assert!(packets.len() > 100, "client {i} mid {mid}: only {} packets", packets.len());
            let video = packets[0].payload.len() == 1000;
            for w in packets.windows(2) {
                assert_eq!(w[1].seq, w[0].seq + 1, "client {i} mid {mid}: sequence continuous and in order");
                assert!(
                    payload_id(video, &w[1].payload) > payload_id(video, &w[0].payload),
                    "payload order kept"
                );
            }
            // Payload intact apart from the rewritable VP8 descriptor.
            let p = &packets[packets.len() / 2].payload;
            if video {
                assert!(p[13..].iter().all(|b| *b == 0xab));
            } else {
                assert!(p[8..].iter().all(|b| *b == 0x11));
            }
        }
    }
    let c = sim.engine.counters();
    assert_eq!(c.dropped_rejected + c.peer_failures, 0, "{c:?}");
}

#[test]
fn nack_and_rtx_repair_five_percent_loss_on_both_legs() {
    let (mut sim, publisher, subscriber) = one_publisher_one_subscriber(7);
    sim.clients[publisher].loss_out = 0.05; // publisher → SFU: the SFU NACKs the publisher
    sim.clients[subscriber].loss_in = 0.05; // SFU → subscriber: the SFU answers from its RTX cache
    let last = run_media(&mut sim, &[publisher], 10_000, 1);
    // Let the last repairs arrive.
    sim.clients[publisher].loss_out = 0.0;
    sim.clients[subscriber].loss_in = 0.0;
    for _ in 0..200 {
        sim.advance(Duration::from_millis(5));
    }
    assert_every_video_packet_arrived(&sim, subscriber, last);
    // Rewriting is consistent: the same payload always carries the same number.
    let mut seqs: Vec<(u64, u64)> =
        sim.clients[subscriber].received.iter().map(|r| (payload_id(true, &r.payload), r.seq)).collect();
    seqs.sort();
    seqs.dedup();
    for w in seqs.windows(2) {
        assert_eq!(w[1].1 - w[0].1, w[1].0 - w[0].0, "sequence numbers follow the publisher's order");
    }
}

#[test]
fn a_line_losing_a_fifth_of_its_packets_still_gets_every_repair() {
    // A township line that loses a fifth of what the SFU sends makes the
    // resends about a fifth of the video's bytes. str0m's default resend
    // cap (15 %) dropped the queued repairs there and the browser froze
    // until it gave up and asked for a keyframe; the SFU's cap lets
    // resends reach the media's own rate.
    let (mut sim, publisher, subscriber) = one_publisher_one_subscriber(11);
    sim.clients[subscriber].loss_in = 0.2;
    let last = run_media(&mut sim, &[publisher], 10_000, 1);
    // A lost last packet shows no gap until the next one arrives: go on
    // sending over a clean line while the last repairs come in.
    sim.clients[subscriber].loss_in = 0.0;
    run_media(&mut sim, &[publisher], 1000, last);
    assert_every_video_packet_arrived(&sim, subscriber, last);
}

#[test]
fn losses_too_old_to_resend_bring_a_keyframe_request_at_once() {
    // A subscriber's line drops everything for 1.5 s, longer than the
    // resend cache keeps (3 round trips and 200 ms here, at least 300 ms).
    // Its NACKs for what was lost then can no longer be answered; the SFU
    // asks the publisher for a keyframe for it at once, instead of leaving
    // its picture frozen until the browser gives up on its NACKs and sends
    // a PLI itself (the str0m client here never does).
    let (mut sim, publisher, subscriber) = one_publisher_one_subscriber(13);
    let next = run_media(&mut sim, &[publisher], 2_000, 1);
    sim.clients[subscriber].loss_in = 1.0;
    let next = run_media(&mut sim, &[publisher], 1_500, next);
    sim.clients[subscriber].loss_in = 0.0;
    let before = sim.clients[publisher].keyframe_requests;
    run_media(&mut sim, &[publisher], 300, next);
    let asked = sim.clients[publisher].keyframe_requests - before;
    assert!(asked >= 1, "the publisher was asked for a keyframe within 300 ms of the line's return");
    assert!(asked <= 2, "one request (the throttle folds the rest): {asked}");
}

#[test]
fn losses_on_the_publishers_uplink_bring_no_keyframe_requests_from_subscribers() {
    // A packet the publisher's uplink lost leaves a gap in what the SFU
    // sends; subscribers NACK it, and the SFU has nothing to resend until
    // its own NACK upstream brings it. That is not a loss beyond repair:
    // no keyframe is asked for on the subscribers' behalf.
    let (mut sim, publisher, subscriber) = one_publisher_one_subscriber(17);
    let next = run_media(&mut sim, &[publisher], 1_000, 1);
    let before = sim.clients[publisher].keyframe_requests;
    sim.clients[publisher].loss_out = 0.05;
    let last = run_media(&mut sim, &[publisher], 5_000, next);
    sim.clients[publisher].loss_out = 0.0;
    run_media(&mut sim, &[publisher], 500, last);
    assert_eq!(sim.clients[publisher].keyframe_requests, before, "no keyframe requests for upstream losses");
    assert!(sim.clients[subscriber].received.len() > 600, "the video went on");
}

#[test]
fn a_leaving_peer_stops_its_forwarding() {
    let mut sim = sim(3);
    sim.join(ROOM, PeerId(1), true, true).expect("join");
    sim.join(ROOM, PeerId(2), true, false).expect("join");
    assert!(sim.connect_all(Duration::from_secs(5)));
    for _ in 0..100 {
        sim.advance(Duration::from_millis(5));
    }
    run_media(&mut sim, &[0, 1], 500, 1);
    let before = sim.clients[1].received.len();
    assert!(before > 20, "media flowed before leaving");
    sim.engine.remove_peer(sim.now, PeerId(1)).expect("remove");
    sim.pump();
    assert!(sim
        .events
        .iter()
        .any(|e| matches!(e, SfuEvent::PeerLeft { peer: PeerId(1), reason: LeaveReason::Removed, .. })));
    assert_eq!(
        sim.events.iter().filter(|e| matches!(e, SfuEvent::TrackUnpublished { peer: PeerId(1), .. })).count(),
        2
    );
    // The departed client keeps sending; nothing of it reaches peer 2.
    run_media(&mut sim, &[0], 500, 10_000);
    assert_eq!(sim.clients[1].received.len(), before, "no packet forwarded after leaving");
    assert!(sim.engine.counters().dropped_unroutable > 0, "its packets are dropped as unroutable");
}

#[test]
fn keyframe_requests_from_many_subscribers_are_coalesced() {
    let mut sim = sim(5);
    let publisher = sim.join(ROOM, PeerId(0), false, true).expect("join");
    for i in 1..=8 {
        sim.join(ROOM, PeerId(i), false, false).expect("join");
    }
    assert!(sim.connect_all(Duration::from_secs(5)));
    let start = sim.clients[publisher].keyframe_requests;
    // 8 subscribers start within ~1 s; each one's start asks for a keyframe.
    run_media(&mut sim, &[publisher], 1000, 1);
    let asked = sim.clients[publisher].keyframe_requests - start;
    assert!(asked >= 1, "the publisher was asked for a keyframe");
    assert!(asked <= 3, "8 subscriber starts within 1 s became {asked} requests (limit: one per 500 ms)");
    for i in 1..=8 {
        assert!(!sim.clients[i].received.is_empty(), "subscriber {i} got video");
    }
}

#[test]
fn hostile_datagrams_are_dropped_and_counted() {
    let mut sim = sim(9);
    sim.join(ROOM, PeerId(1), true, true).expect("join");
    sim.join(ROOM, PeerId(2), true, true).expect("join");
    assert!(sim.connect_all(Duration::from_secs(5)));
    for _ in 0..100 {
        sim.advance(Duration::from_millis(5));
    }
    let known = sim.clients[0].addr;
    let stranger: SocketAddr = "10.66.0.1:9".parse().expect("addr");
    let server = sim.server;
    let now = sim.now;
    let mut junk: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x80],                   // truncated RTP
        vec![0x80, 0x60, 0, 1, 0, 0], // truncated RTP header
        vec![0x81, 200, 0, 1],        // truncated RTCP SR
        vec![0x00, 0x01, 0x00, 0x08], // truncated STUN
        vec![0x16, 0xfe, 0xfd],       // truncated DTLS
        vec![0x80; 1400],             // garbage RTP with unknown SSRC
        vec![0xff; 9000],             // huge
    ];
    let mut x = 0x1234_5678_u64;
    for len in [12usize, 40, 200, 1200] {
        let mut v = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(x as u8);
        }
        v[0] = 0x80 | (v[0] & 0x3f);
        junk.push(v);
    }
    for data in &junk {
        for source in [known, stranger] {
            sim.engine.handle_receive(now, source, server, data);
        }
    }
    let c = sim.engine.counters();
    assert_eq!(c.peer_failures, 0, "no peer was harmed");
    assert!(c.dropped_malformed + c.dropped_rejected + c.dropped_unroutable >= junk.len() as u64, "{c:?}");
    // Media still flows afterwards.
    let before = sim.clients[1].received.len();
    run_media(&mut sim, &[0], 500, 1);
    assert!(sim.clients[1].received.len() > before + 20);
}

#[test]
fn sender_reports_are_translated_so_audio_and_video_stay_in_sync() {
    let mut sim = sim(11);
    sim.join(ROOM, PeerId(1), true, true).expect("join");
    sim.join(ROOM, PeerId(2), false, false).expect("join");
    assert!(sim.connect_all(Duration::from_secs(5)));
    for _ in 0..100 {
        sim.advance(Duration::from_millis(5));
    }
    // The publisher's audio pipeline lags its camera by 120 ms: an audio
    // packet arrives together with video captured 120 ms later. Only the
    // publisher's sender reports say so.
    let lag = Duration::from_millis(120);
    for t in 0..8000u64 {
        if t % 20 == 0 {
            sim.send_video(0, t / 20);
            sim.send_audio_captured(0, t / 20, lag);
        }
        sim.advance(Duration::from_millis(1));
    }
    let got = &sim.clients[1].received;
    let late = |video: bool| -> Vec<(u64, std::time::SystemTime)> {
        got.iter()
            .filter(|r| (r.payload.len() == 1000) == video)
            .filter_map(|r| Some((payload_id(video, &r.payload), r.capture_ntp?)))
            .filter(|(id, _)| *id > 200) // after the first sender reports
            .collect()
    };
    let (video, audio) = (late(true), late(false));
    assert!(
        video.len() > 100 && audio.len() > 100,
        "{} video, {} audio with sender reports",
        video.len(),
        audio.len()
    );
    let mut checked = 0;
    for (id, v) in &video {
        if let Some((_, a)) = audio.iter().find(|(x, _)| x == id) {
            let diff = v
                .duration_since(*a)
                .unwrap_or_else(|e| panic!("id {id}: audio captured {:?} after video", e.duration()));
            let off = diff.abs_diff(lag);
            assert!(
                off < Duration::from_millis(5),
                "id {id}: video − audio capture = {diff:?}, expected {lag:?}"
            );
            checked += 1;
        }
    }
    assert!(checked > 100);
}

#[test]
fn a_muted_track_is_not_forwarded_and_resumes_seamlessly() {
    let mut sim = sim(13);
    sim.join(ROOM, PeerId(1), true, false).expect("join");
    sim.join(ROOM, PeerId(2), false, false).expect("join");
    assert!(sim.connect_all(Duration::from_secs(5)));
    for _ in 0..100 {
        sim.advance(Duration::from_millis(5));
    }
    let track = sim
        .events
        .iter()
        .find_map(|e| match e {
            SfuEvent::TrackPublished { peer: PeerId(1), track, .. } => Some(*track),
            _ => None,
        })
        .expect("published");
    run_media(&mut sim, &[0], 1000, 1);
    assert!(
        sim.events.iter().any(|e| matches!(e, SfuEvent::ActiveSpeaker { peer: Some(PeerId(1)), .. })),
        "the speaking publisher becomes the active speaker"
    );
    let before = sim.clients[1].received.len();
    assert!(before > 30);
    sim.engine.set_muted(sim.now, PeerId(1), track, true).expect("mute");
    run_media(&mut sim, &[0], 1000, 1000); // the client keeps sending
    assert_eq!(sim.clients[1].received.len(), before, "nothing forwarded while muted");
    assert!(
        sim.events.iter().any(|e| matches!(e, SfuEvent::ActiveSpeaker { peer: None, .. })),
        "a muted publisher stops being the active speaker"
    );
    sim.engine.set_muted(sim.now, PeerId(1), track, false).expect("unmute");
    run_media(&mut sim, &[0], 1000, 2000);
    let got = &sim.clients[1].received;
    assert!(got.len() > before + 30, "forwarding resumed");
    for w in got.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1, "no gap in the subscriber's sequence across the mute");
    }
    assert!(sim.engine.set_muted(sim.now, PeerId(2), track, true).is_err(), "only the owner's track");
}

#[test]
fn audio_only_subscribers_get_no_video_and_resume_cleanly() {
    let mut sim = sim(17);
    sim.join(ROOM, PeerId(1), true, true).expect("join");
    sim.join(ROOM, PeerId(2), false, false).expect("join");
    assert!(sim.connect_all(Duration::from_secs(5)));
    for _ in 0..100 {
        sim.advance(Duration::from_millis(5));
    }
    run_media(&mut sim, &[0], 500, 1);
    let count = |sim: &Sim, video: bool| {
        sim.clients[1].received.iter().filter(|r| (r.payload.len() == 1000) == video).count()
    };
    let (v0, a0) = (count(&sim, true), count(&sim, false));
    assert!(v0 > 20 && a0 > 10);
    sim.engine.set_receive_video(sim.now, PeerId(2), false).expect("audio only");
    run_media(&mut sim, &[0], 500, 1000);
    assert_eq!(count(&sim, true), v0, "no video while audio-only");
    assert!(count(&sim, false) > a0 + 10, "audio continues");
    sim.engine.set_receive_video(sim.now, PeerId(2), true).expect("video again");
    run_media(&mut sim, &[0], 500, 2000);
    assert!(count(&sim, true) > v0 + 20, "video resumes");
    let video: Vec<u64> =
        sim.clients[1].received.iter().filter(|r| r.payload.len() == 1000).map(|r| r.seq).collect();
    for w in video.windows(2) {
        assert_eq!(w[1], w[0] + 1, "the subscriber's video sequence has no gap");
    }
}

#[test]
fn broadcast_mode_sends_a_subscriber_only_the_chosen_video() {
    let mut sim = sim(19);
    sim.join(ROOM, PeerId(1), true, true).expect("main venue");
    sim.join(ROOM, PeerId(2), true, true).expect("another venue");
    sim.join(ROOM, PeerId(3), false, false).expect("sub-venue");
    assert!(sim.connect_all(Duration::from_secs(5)));
    for _ in 0..100 {
        sim.advance(Duration::from_millis(5));
    }
    // Which of the sub-venue's m-lines carries whose video, from the offers' track map.
    let owner_of_track: std::collections::HashMap<_, _> = sim
        .events
        .iter()
        .filter_map(|e| match e {
            SfuEvent::TrackPublished { peer, track, kind: huiyi_sfu::TrackKind::Video, .. } => {
                Some((*track, *peer))
            }
            _ => None,
        })
        .collect();
    let video_mid_of: std::collections::HashMap<_, _> = sim
        .events
        .iter()
        .filter_map(|e| match e {
            SfuEvent::OfferReady { peer: PeerId(3), tracks, .. } => Some(tracks.clone()),
            _ => None,
        })
        .flatten()
        .filter_map(|(mid, track)| owner_of_track.get(&track).map(|p| (*p, mid)))
        .collect();
    let video_from = |sim: &Sim, who: PeerId| {
        let mid = &video_mid_of[&who];
        sim.clients[2].received.iter().filter(|r| r.mid.to_string() == *mid).count()
    };
    run_media(&mut sim, &[0, 1], 500, 1);
    assert!(video_from(&sim, PeerId(1)) > 20 && video_from(&sim, PeerId(2)) > 20);
    sim.engine.set_video_sources(sim.now, PeerId(3), Some(vec![PeerId(1)])).expect("broadcast");
    let (a, b) = (video_from(&sim, PeerId(1)), video_from(&sim, PeerId(2)));
    let audio_before = sim.clients[2].received.iter().filter(|r| r.payload.len() != 1000).count();
    run_media(&mut sim, &[0, 1], 500, 1000);
    assert!(video_from(&sim, PeerId(1)) > a + 20, "the broadcast source keeps flowing");
    assert_eq!(video_from(&sim, PeerId(2)), b, "no video of the other venue");
    let audio_after = sim.clients[2].received.iter().filter(|r| r.payload.len() != 1000).count();
    assert!(audio_after > audio_before + 20, "audio is not filtered");
    sim.engine.set_video_sources(sim.now, PeerId(3), None).expect("off");
    run_media(&mut sim, &[0, 1], 500, 2000);
    assert!(video_from(&sim, PeerId(2)) > b + 20, "all video again after broadcast ends");
}

/// Issue 11, finding 6: a peer that may not publish (an observer, 列席)
/// publishes nothing, whatever its offer says: no track, nothing forwarded;
/// it still receives the others.
#[test]
fn a_peer_that_may_not_publish_is_never_forwarded() {
    let mut sim = sim(11);
    sim.join(ROOM, PeerId(1), true, true).expect("join");
    sim.join_as(ROOM, PeerId(2), true, true, false).expect("an observer offering to send");
    sim.join(ROOM, PeerId(3), true, false).expect("join");
    assert!(sim.connect_all(Duration::from_secs(5)));
    for _ in 0..100 {
        sim.advance(Duration::from_millis(5));
    }
    run_media(&mut sim, &[0, 1], 500, 1);
    assert!(
        !sim.events.iter().any(|e| matches!(e, SfuEvent::TrackPublished { peer: PeerId(2), .. })),
        "the observer published nothing"
    );
    assert!(!sim.clients[1].received.is_empty(), "the observer receives the others");
    // Peer 3 gets only peer 1's media (audio and video), nothing from peer 2.
    let mids: BTreeSet<_> = sim.clients[2].received.iter().map(|r| r.mid).collect();
    assert_eq!(mids.len(), 2, "two tracks (peer 1's), not four: {mids:?}");
}

/// Issue 11 (finding 10): a track over the per-track bitrate cap forwards
/// only its budget each second (the rest is dropped at the SFU), and a
/// peer publishes at most `max_tracks_per_peer` tracks (an offer sending
/// more is refused).
#[test]
fn tracks_are_capped_in_number_and_bitrate() {
    // Video here is 1000-byte packets every 10 ms: 100 kB/s. Cap it at 30 kB/s.
    let cfg = EngineConfig { max_track_bytes_per_sec: 30_000, ..EngineConfig::default() };
    let mut sim = sim_with(cfg, 12);
    sim.join(ROOM, PeerId(1), true, true).expect("join");
    sim.join(ROOM, PeerId(2), false, false).expect("join");
    assert!(sim.connect_all(Duration::from_secs(5)));
    for _ in 0..100 {
        sim.advance(Duration::from_millis(5));
    }
    run_media(&mut sim, &[0], 2000, 1);
    let big: Vec<_> = sim.clients[1].received.iter().filter(|r| r.payload.len() >= 900).collect();
    let small = sim.clients[1].received.len() - big.len();
    assert!((40..=75).contains(&big.len()), "about 30 of 100 video packets a second: {}", big.len());
    assert!(small >= 90, "audio, under the cap, all arrives: {small}");

    // One track allowed: an offer with audio and video is refused.
    let cfg = EngineConfig { max_tracks_per_peer: 1, ..EngineConfig::default() };
    let mut sim = sim_with(cfg, 13);
    let refused = sim.join(ROOM, PeerId(1), true, true);
    assert!(
        matches!(&refused, Err(huiyi_sfu::SfuError::BadSdp(m)) if m.contains("at most 1")),
        "{refused:?}"
    );
    sim.join(ROOM, PeerId(2), true, false).expect("one track is fine");
}

#[test]
fn red_audio_reaches_red_subscribers_whole_and_the_others_unwrapped() {
    let mut sim = sim(7);
    sim.red_audio = true;
    sim.join(ROOM, PeerId(0), true, false).expect("join");
    sim.join(ROOM, PeerId(1), true, false).expect("join");
    sim.red_audio = false;
    sim.join(ROOM, PeerId(2), true, false).expect("join");
    assert!(sim.connect_all(Duration::from_secs(5)), "all peers connect");
    for _ in 0..100 {
        sim.advance(Duration::from_millis(5));
    }
    for t in 0..100u64 {
        sim.send_audio(0, 1000 + t);
        sim.advance(Duration::from_millis(20));
    }
    let red = &sim.clients[1].received;
    assert!(red.len() >= 95, "the RED subscriber got {} of 100 packets", red.len());
    for r in red {
        assert_eq!(r.payload.len(), 4 + 1 + 4 + 120, "RED payload passed through whole");
        assert_eq!(r.payload[0] & 0x80, 0x80, "starts with a redundant block's header");
        let id = payload_id(false, &r.payload[9..]);
        assert!((1000..1100).contains(&id), "primary carries the id, got {id}");
    }
    let plain = &sim.clients[2].received;
    assert!(plain.len() >= 95, "the plain subscriber got {} of 100 packets", plain.len());
    let ids: Vec<u64> = plain.iter().map(|r| payload_id(false, &r.payload)).collect();
    for (r, id) in plain.iter().zip(&ids) {
        assert_eq!(r.payload.len(), 120, "unwrapped to the primary block");
        assert!((1000..1100).contains(id), "primary id, got {id}");
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order");
}

#[test]
fn an_answer_that_changes_ice_credentials_gets_one_restart_offer_not_a_loop() {
    let mut sim = sim(8);
    sim.join(ROOM, PeerId(0), true, true).expect("join");
    assert!(sim.connect_all(Duration::from_secs(5)), "the first peer connects");
    // Peer 0's answer to the offer of peer 1's tracks changes its ICE
    // credentials (Firefox after restartIce()): refused by str0m, it used to
    // be re-offered unchanged and answered the same way, forever.
    sim.answers_changing_ice = 1;
    sim.join(ROOM, PeerId(1), true, true).expect("join");
    assert!(sim.connect_all(Duration::from_secs(5)), "all peers connect");
    for _ in 0..400 {
        sim.advance(Duration::from_millis(5));
    }
    // Per peer, the ufrag of each offer it got.
    let ufrags = |peer: PeerId| -> Vec<String> {
        sim.events
            .iter()
            .filter_map(|e| match e {
                SfuEvent::OfferReady { peer: p, sdp, .. } if *p == peer => {
                    sdp.lines().find(|l| l.starts_with("a=ice-ufrag:")).map(str::to_owned)
                }
                _ => None,
            })
            .collect()
    };
    let (zero, one) = (ufrags(PeerId(0)), ufrags(PeerId(1)));
    eprintln!("{zero:?} {one:?}");
    let changed = |u: &[String]| u.windows(2).filter(|w| w[0] != w[1]).count();
    assert_eq!(changed(&zero) + changed(&one), 1, "exactly one offer restarts ICE: {zero:?} {one:?}");
    assert!(zero.len() + one.len() <= 4, "the refused answer's offer comes once more, not in a loop");
    run_media(&mut sim, &[0, 1], 2000, 1);
    for (i, c) in sim.clients.iter().enumerate() {
        let mids: BTreeSet<_> = c.received.iter().map(|r| r.mid).collect();
        assert_eq!(mids.len(), 2, "client {i} receives the other's audio and video after the restart");
        assert!(c.received.len() > 200, "client {i} receives media: {}", c.received.len());
    }
}

/// A forwarded packet leaves for every subscriber in the worker turn that
/// received it: without the estimator, released and protected in the
/// forwarding call itself (ADR 0020); otherwise by the queued write
/// (docs/adr/0014) and the timeout pass at the same instant.
#[test]
fn a_forwarded_packet_leaves_in_the_turn_it_arrived() {
    let (mut sim, datagrams) = cameras_settled(7, 4);
    let subscribers: BTreeSet<SocketAddr> = sim.clients[1..].iter().map(|c| c.addr).collect();
    let (now, server) = (sim.now, sim.server);
    for (source, data) in &datagrams {
        let before = sim.engine.counters();
        sim.engine.handle_receive(now, *source, server, data);
        let after = sim.engine.counters();
        assert_eq!(after.forwarded - before.forwarded, 3, "one write per subscriber");
        assert_eq!(after.sent_directly - before.sent_directly, 3, "each released in the forwarding call");
        if sim.engine.poll_timeout().is_some_and(|t| t <= now) {
            sim.engine.handle_timeout(now);
        }
        let mut reached = BTreeSet::new();
        while let Some(t) = sim.engine.poll_transmit() {
            reached.insert(t.destination);
        }
        assert_eq!(reached, subscribers, "every subscriber's copy left in the same turn");
    }
}

/// ADR 0027: the buffers of sent datagrams, given back to the engine, are
/// what the next forwarded packets are protected into (no allocation per
/// packet), and what the subscribers get is still whole (every test here
/// that runs through `Sim::pump` decrypts recycled buffers).
#[test]
fn forwarded_packets_are_protected_into_the_buffers_given_back() {
    let (mut sim, datagrams) = cameras_settled(11, 3);
    let (now, server) = (sim.now, sim.server);
    let mut given_back = BTreeSet::new();
    let mut reused = 0;
    for (k, (source, data)) in datagrams.iter().enumerate() {
        sim.engine.handle_receive(now, *source, server, data);
        let mut sent = Vec::new();
        while let Some(t) = sim.engine.poll_transmit() {
            sent.push(t);
        }
        assert!(sent.len() >= 2, "both subscribers' copies left");
        for t in sent {
            let at = t.contents.as_ptr() as usize;
            if k > 0 && given_back.contains(&at) {
                reused += 1;
            }
            given_back.insert(at);
            sim.engine.recycle(t.contents);
        }
    }
    assert!(reused >= 2 * 19, "every later copy went into a buffer given back ({reused} of 38)");
}

/// ADR 0027: a subscriber without an estimator (a crowded meeting, or
/// estimation off) gets no transport-wide sequence numbers, so it sends no
/// transport feedback that nobody would read; with one, it does.
#[test]
fn without_an_estimator_no_transport_feedback_is_asked_for() {
    let mut datagrams_in = Vec::new();
    for bwe in [Some(1_000_000), None] {
        let mut sim = sim_with(EngineConfig { bwe_initial: bwe, ..EngineConfig::default() }, 5);
        let publisher = sim.join(ROOM, PeerId(1), true, true).expect("join");
        let subscriber = sim.join(ROOM, PeerId(2), false, false).expect("join");
        assert!(sim.connect_all(Duration::from_secs(5)), "peers connect");
        run_media(&mut sim, &[publisher], 500, 1);
        sim.clients[subscriber].received.clear();
        let before = sim.engine.counters().datagrams_in;
        run_media(&mut sim, &[publisher], 2_000, 10_000);
        datagrams_in.push(sim.engine.counters().datagrams_in - before);
        let received = &sim.clients[subscriber].received;
        assert!(received.len() > 200, "{bwe:?}: media flowed ({} packets)", received.len());
        let numbered = received.iter().filter(|r| r.transport_cc).count();
        if bwe.is_some() {
            assert_eq!(numbered, received.len(), "with the estimator every packet is numbered");
        } else {
            assert_eq!(numbered, 0, "without it none is");
        }
    }
    // The subscriber's feedback, every 50 ms, is gone (the publisher sends
    // the same in both runs).
    assert!(
        datagrams_in[0] >= datagrams_in[1] + 30,
        "datagrams in over 2 s: {} with the estimator, {} without",
        datagrams_in[0],
        datagrams_in[1]
    );
}
