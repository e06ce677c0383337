//! Issue 11, findings 1 and 2: 2,000 half-open connections from one address
//! (HTTP requests whose headers never finish) must not take the server
//! down: `/healthz` keeps answering within a second, a live meeting's
//! signaling too, and the idle connections are closed. The process's own
//! descriptor limit is lowered so that exhausting it would be quick; the
//! attacker connects from 127.0.0.2, the honest clients from 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use common::http::*;
use huiyi_protocol::ClientMsg;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

async fn half_open(addr: std::net::SocketAddr) -> Option<tokio::net::TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind("127.0.0.2:0".parse().expect("addr")).ok()?;
    let mut stream = tokio::time::timeout(Duration::from_secs(2), socket.connect(addr)).await.ok()?.ok()?;
    // A request that never finishes its headers.
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.ok()?;
    Some(stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_from_one_address_does_not_take_the_server_down() {
    // Room for the attacker's 2,000 sockets and what the server keeps, not
    // for the server accepting them all.
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("limit");
    rlimit::setrlimit(rlimit::Resource::NOFILE, 3000.min(hard), hard).expect("lower the limit");
    let dir = std::env::temp_dir().join(format!("huiyi-slowloris-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let server = Running::start_with(&dir, |c| c.signaling.demo = true).await;
    let addr = server.addr;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A live meeting of two before the attack.
    let target = common::Server::at(addr);
    let mut people = Vec::new();
    for name in ["主会场", "城关镇"] {
        let mut ws = common::connect(&target, None).await.expect("upgrade");
        let hello = ClientMsg::Hello {
            version: huiyi_protocol::PROTOCOL_VERSION,
            token: None,
            demo_meeting: Some("slowloris".into()),
            name: Some(name.into()),
            resume: None,
        };
        common::send_msg(&mut ws, &hello).await;
        common::recv_type(&mut ws, "welcome").await;
        people.push(ws);
    }

    let mut attack = Vec::new();
    for _ in 0..2000 {
        if let Some(s) = half_open(addr).await {
            attack.push(s);
        }
    }
    assert!(attack.len() > 1500, "the attacker holds its connections open: {}", attack.len());
    let mut slowest = Duration::ZERO;
    for i in 0..5 {
        let t0 = Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(1), request(addr, "GET", "/healthz", "", None))
            .await
            .expect("/healthz answers within a second");
        assert_eq!(r.status, 200);
        assert!(t0.elapsed() < Duration::from_secs(1));
        // The meeting's signaling: a chat from one reaches the other, a ping is answered.
        let t0 = Instant::now();
        common::send_msg(&mut people[0], &ClientMsg::Chat { text: format!("第{i}次") }).await;
        let chat = common::recv_type(&mut people[1], "chat").await;
        assert_eq!(chat["text"], format!("第{i}次"));
        common::send_msg(&mut people[1], &ClientMsg::Ping { nonce: i }).await;
        common::recv_type(&mut people[1], "pong").await;
        let took = t0.elapsed();
        assert!(took < Duration::from_secs(1), "the meeting's signaling answers within a second: {took:?}");
        slowest = slowest.max(took);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("under 2,000 half-open connections: slowest chat + ping round trip {slowest:?}");
    // The server did not keep them: most were closed at once (over the
    // per-source cap), the rest when their headers were overdue.
    let mut closed = 0;
    for s in attack.iter_mut().take(400) {
        let mut buf = [0u8; 64];
        // Closed: end of stream, or reset (the server never read what was sent).
        match tokio::time::timeout(Duration::from_millis(20), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => closed += 1,
            _ => {}
        }
    }
    assert!(closed > 150, "connections over the cap are closed: {closed} of 400 seen closed");
    drop(attack);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
