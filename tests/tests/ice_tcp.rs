//! The ICE-TCP listener under hostile clients (issue 13): garbage frames, a
//! 64 KiB length prefix, a slowloris connection and a thousand connections
//! at once, while two peers (the independent `webrtc` crate, over UDP) hold
//! a meeting on the same worker. The meeting's media must not notice; the
//! bad connections are closed and counted.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use huiyi_config::SfuConfig;
use huiyi_sfu::{PeerId, RoomId, Sfu};
use huiyi_tests::client::{Client, Negotiator};
use huiyi_tests::wait_for;

/// Whether the server closed `stream` within `limit` (EOF or reset).
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let end = Instant::now() + limit;
    let mut buf = [0u8; 64];
    while Instant::now() < end {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_tcp_clients_do_not_disturb_a_meeting() {
    huiyi_tests::init_logging();
    let config = SfuConfig {
        workers: 1,
        udp_port: 0,
        bwe_initial_kbps: 0,
        max_tcp_connections: 200,
        ..SfuConfig::default()
    };
    let (sfu, events) = Sfu::start(&config).expect("media plane starts");
    let handle = sfu.handle();
    let tcp: SocketAddr = *handle.tcp_addrs().first().expect("an ICE-TCP listener");
    let room = RoomId(1);
    handle.create_room(room).await.expect("room");
    let negotiator = Negotiator::start(handle.clone(), events);
    let mut clients = Vec::new();
    for i in 1..=2 {
        let c = Client::new(PeerId(i), true).await.expect("client");
        negotiator.register(c.clone(), Arc::new(|s| s));
        c.join(&handle, room, |s| s).await.expect("join");
        clients.push(c);
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let senders: Vec<_> = clients.iter().map(|c| c.start_sending(stop_rx.clone())).collect();
    let received = |c: &Client| c.got("peer-2", true).len() + c.got("peer-2", false).len();
    assert!(
        wait_for(Duration::from_secs(15), || received(&clients[0]) > 100).await,
        "media flows before the attack"
    );
    let t0 = Instant::now();
    let n0 = received(&clients[0]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let baseline = (received(&clients[0]) - n0) as f64 / t0.elapsed().as_secs_f64();

    let attack = tokio::task::spawn_blocking(move || {
        // A frame of garbage: not STUN of any peer.
        let mut garbage = TcpStream::connect(tcp).expect("connect");
        garbage
            .write_all(&[0x00, 0x10, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
            .expect("write");
        // A length prefix of 64 KiB, far past any datagram.
        let mut huge = TcpStream::connect(tcp).expect("connect");
        huge.write_all(&[0xff, 0xff, 0, 0, 0, 0]).expect("write");
        // Slowloris: a frame that never completes, one byte at a time.
        let mut slow = TcpStream::connect(tcp).expect("connect");
        slow.write_all(&[0x00, 0x40]).expect("write");
        // A thousand connections at once (the cap is 200).
        let crowd: Vec<TcpStream> = (0..1000).filter_map(|_| TcpStream::connect(tcp).ok()).collect();
        let garbage_closed = closed_within(&mut garbage, Duration::from_secs(3));
        let huge_closed = closed_within(&mut huge, Duration::from_secs(3));
        let started = Instant::now();
        let mut slow_closed = false;
        while started.elapsed() < Duration::from_secs(14) {
            if slow.write_all(&[0x01]).is_err() || closed_within(&mut slow, Duration::from_millis(500)) {
                slow_closed = true;
                break;
            }
        }
        (garbage_closed, huge_closed, slow_closed, started.elapsed(), crowd.len())
    });
    let t1 = Instant::now();
    let n1 = received(&clients[0]);
    let (garbage_closed, huge_closed, slow_closed, slow_after, crowd) = attack.await.expect("attack");
    let during = (received(&clients[0]) - n1) as f64 / t1.elapsed().as_secs_f64();
    assert!(garbage_closed, "a connection whose first frame is no peer's is closed");
    assert!(huge_closed, "a frame longer than any datagram closes the connection");
    assert!(slow_closed, "a connection that completes no frame is closed (after {slow_after:?})");
    assert!(crowd >= 900, "the crowd connected: {crowd}");
    assert!(
        during >= baseline * 0.8,
        "the meeting's media goes on: {during:.0} packets/s during the attack, {baseline:.0} before"
    );
    let t = handle.tcp_counters();
    assert!(t.refused >= 700, "connections over the cap are refused: {t:?}");
    assert!(t.dropped >= 3, "the three misbehaving connections are counted: {t:?}");
    assert!(t.open <= 200, "never more than the cap open: {t:?}");

    stop_tx.send(true).expect("stop");
    for s in senders {
        s.await.expect("sender");
    }
    for c in &clients {
        let _ = c.pc.close().await;
    }
    sfu.shutdown();
}
