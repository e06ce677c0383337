//! End to end over loopback UDP: the real media plane (worker threads,
//! sockets, str0m) and client peers on the independent `webrtc` crate.

use std::sync::Arc;
use std::time::Duration;

use huiyi_config::SfuConfig;
use huiyi_sfu::{LeaveReason, PeerId, RoomId, Sfu, SfuEvent};
use huiyi_tests::client::{Client, Got, Negotiator};
use huiyi_tests::relay::Relay;
use huiyi_tests::wait_for;

/// Without bandwidth estimation: the `webrtc` crate's transport-wide
/// feedback drives str0m's estimate down on a clean loopback and its videos
/// would be paused (issue 12's notes; tests/src/server.rs).
fn media_config() -> SfuConfig {
    SfuConfig { workers: 2, udp_port: 0, bwe_initial_kbps: 0, ..SfuConfig::default() }
}

fn identity() -> Arc<dyn Fn(String) -> String + Send + Sync> {
    Arc::new(|s| s)
}

/// Packets of one track are in order with continuous sequence numbers and
/// intact payloads.
fn assert_in_order(who: &str, packets: &[Got]) {
    assert!(packets.len() > 50, "{who}: only {} packets", packets.len());
    for w in packets.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "{who}: sequence continuous");
        assert!(w[1].id() > w[0].id(), "{who}: payload order kept");
    }
    for p in packets {
        let body = if p.video { &p.payload[13..] } else { &p.payload[8..] };
        let fill = if p.video { 0xab } else { 0x11 };
        assert!(body.iter().all(|b| *b == fill), "{who}: payload intact");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_peers_exchange_audio_and_video_and_a_leaver_stops() {
    huiyi_tests::init_logging();
    let (sfu, events) = Sfu::start(&media_config()).expect("media plane starts");
    let handle = sfu.handle();
    let room = RoomId(1);
    handle.create_room(room).await.expect("room");
    let negotiator = Negotiator::start(handle.clone(), events);
    let mut clients = Vec::new();
    for i in 1..=3 {
        let c = Client::new(PeerId(i), true).await.expect("client");
        negotiator.register(c.clone(), identity());
        c.join(&handle, room, |s| s).await.expect("join");
        clients.push(c);
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let senders: Vec<_> = clients.iter().map(|c| c.start_sending(stop_rx.clone())).collect();

    // Everyone receives both others' audio and video.
    let all_flowing = wait_for(Duration::from_secs(15), || {
        clients.iter().all(|c| {
            clients.iter().filter(|o| o.id != c.id).all(|o| {
                let stream = format!("peer-{}", o.id.0);
                c.got(&stream, true).len() > 100 && c.got(&stream, false).len() > 50
            })
        })
    })
    .await;
    if !all_flowing {
        for c in &clients {
            for o in clients.iter().filter(|o| o.id != c.id) {
                let stream = format!("peer-{}", o.id.0);
                eprintln!(
                    "{} <- {}: video {} audio {}",
                    c.id,
                    o.id,
                    c.got(&stream, true).len(),
                    c.got(&stream, false).len()
                );
            }
        }
        eprintln!("events: {:?}", negotiator.events.lock().expect("lock"));
    }
    assert!(all_flowing, "media flows between all three peers");
    for c in &clients {
        for o in clients.iter().filter(|o| o.id != c.id) {
            let stream = format!("peer-{}", o.id.0);
            assert_in_order(&format!("{} ← {} video", c.id, o.id), &c.got(&stream, true));
            assert_in_order(&format!("{} ← {} audio", c.id, o.id), &c.got(&stream, false));
        }
    }

    // Peer 1 leaves; its client keeps sending, but nothing of it arrives any more.
    handle.remove_peer(room, PeerId(1)).await.expect("remove");
    assert!(
        wait_for(Duration::from_secs(5), || negotiator
            .events
            .lock()
            .expect("lock")
            .iter()
            .any(|e| matches!(e, SfuEvent::PeerLeft { peer: PeerId(1), reason: LeaveReason::Removed, .. })))
        .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await; // packets already in flight
    let before: Vec<usize> =
        clients[1..].iter().map(|c| c.got("peer-1", true).len() + c.got("peer-1", false).len()).collect();
    let others_before = clients[1].got("peer-3", true).len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after: Vec<usize> =
        clients[1..].iter().map(|c| c.got("peer-1", true).len() + c.got("peer-1", false).len()).collect();
    assert_eq!(before, after, "no packet of the departed peer is forwarded");
    assert!(clients[1].got("peer-3", true).len() > others_before + 50, "the others go on");

    stop_tx.send(true).expect("stop");
    for s in senders {
        s.await.expect("sender");
    }
    for c in &clients {
        let _ = c.pc.close().await;
    }
    let counters = handle.counters();
    assert!(counters.forwarded > 1000, "{counters:?}");
    assert_eq!(counters.peer_failures, 0);
    sfu.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_percent_uplink_loss_is_repaired_by_nack() {
    huiyi_tests::init_logging();
    let (sfu, events) = Sfu::start(&SfuConfig { workers: 1, ..media_config() }).expect("media plane starts");
    let handle = sfu.handle();
    let server = handle.local_addrs()[0];
    let room = RoomId(7);
    handle.create_room(room).await.expect("room");
    let negotiator = Negotiator::start(handle.clone(), events);

    // The publisher reaches the server through a relay that drops 5 % of its RTP.
    let relay = Relay::start(server, 0.05, 42).await.expect("relay");
    let (from, to) = (
        format!(" {} {} typ", server.ip(), server.port()),
        format!(" {} {} typ", relay.client_side.ip(), relay.client_side.port()),
    );
    let rewrite: Arc<dyn Fn(String) -> String + Send + Sync> =
        Arc::new(move |s: String| s.replace(&from, &to));
    let publisher = Client::new(PeerId(1), true).await.expect("client");
    negotiator.register(publisher.clone(), rewrite.clone());
    let rw = rewrite.clone();
    publisher.join(&handle, room, move |s| rw(s)).await.expect("join");
    let subscriber = Client::new(PeerId(2), false).await.expect("client");
    negotiator.register(subscriber.clone(), identity());
    subscriber.join(&handle, room, |s| s).await.expect("join");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sender = publisher.start_sending(stop_rx);
    assert!(
        wait_for(Duration::from_secs(15), || subscriber.got("peer-1", true).len() > 50).await,
        "video flows"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    // The last lost packets are only noticed when later ones arrive: keep
    // sending a little over a healthy link before stopping.
    relay.heal();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_tx.send(true).expect("stop");
    let sent = sender.await.expect("sender");
    tokio::time::sleep(Duration::from_secs(1)).await; // last repairs

    let got = subscriber.got("peer-1", true);
    let ids: std::collections::BTreeSet<u64> = got.iter().map(Got::id).collect();
    let first = *ids.first().expect("video");
    let missing: Vec<u64> = (first..=sent).filter(|id| !ids.contains(id)).collect();
    let dropped = relay.dropped.load(std::sync::atomic::Ordering::Relaxed);
    assert!(dropped > 10, "the relay dropped packets ({dropped})");
    assert!(
        missing.is_empty(),
        "{} of {} packets were never repaired (relay dropped {dropped}): {missing:?}",
        missing.len(),
        sent - first + 1
    );
    let _ = publisher.pc.close().await;
    let _ = subscriber.pc.close().await;
    sfu.shutdown();
}
