//! The pieces around forwarding, each on its own: SRTP protect of one
//! video packet (AES-128-GCM through str0m's crypto provider, aws-lc),
//! RTCP parsing (a sender report, a generic NACK, a PLI), and the signaling
//! join path (hello with a signed token → welcome, through a real server's
//! WebSocket and meeting actor, then leave), and the media socket's send
//! path (a video frame to each of 150 subscribers on loopback: segmented
//! sends against `sendmmsg` and `sendmsg`).

use std::time::Duration;

use criterion::{Criterion, Throughput};
use futures_util::{SinkExt, StreamExt};
use huiyi_protocol::{ClientMsg, ServerMsg, PROTOCOL_VERSION};
use str0m::rtp::rtcp::Rtcp;
use tokio_tungstenite::tungstenite::Message;

fn srtp_protect(c: &mut Criterion) {
    let provider = str0m::crypto::from_feature_flags();
    let mut cipher = provider.srtp_provider.aead_aes_128_gcm().create_cipher([7; 16], true);
    let header = [0x80u8, 96, 0x12, 0x34, 0, 0, 0x56, 0x78, 0x11, 0x22, 0x33, 0x44];
    let payload = vec![0xab_u8; 1000];
    let mut out = vec![0_u8; 1000 + 16];
    let mut group = c.benchmark_group("srtp");
    group.throughput(Throughput::Bytes(1000));
    group.bench_function("protect_aes128gcm_1000B", |b| {
        let mut iv = [0_u8; 12];
        let mut seq = 0_u16;
        b.iter(|| {
            seq = seq.wrapping_add(1);
            iv[10..].copy_from_slice(&seq.to_be_bytes());
            cipher.encrypt(&iv, &header, &payload, &mut out).expect("encrypts");
        })
    });
    group.finish();
}

/// A sender report with one report block, a generic NACK and a PLI.
fn rtcp_packets() -> Vec<Vec<u8>> {
    let mut sr = vec![0x81, 200, 0, 12];
    sr.extend_from_slice(&0x1122_3344_u32.to_be_bytes()); // sender SSRC
    sr.extend_from_slice(&[0xe9, 0, 0, 0, 0x10, 0, 0, 0]); // NTP time
    sr.extend_from_slice(&90_000_u32.to_be_bytes()); // RTP time
    sr.extend_from_slice(&1000_u32.to_be_bytes()); // packets
    sr.extend_from_slice(&1_000_000_u32.to_be_bytes()); // octets
    sr.extend_from_slice(&0x5566_7788_u32.to_be_bytes()); // report block: SSRC
    sr.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0x10, 0, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0]);
    let mut nack = vec![0x81, 205, 0, 3];
    nack.extend_from_slice(&0x1122_3344_u32.to_be_bytes());
    nack.extend_from_slice(&0x5566_7788_u32.to_be_bytes());
    nack.extend_from_slice(&[0x10, 0x00, 0x00, 0x05]); // lost 4096 and 4096 + 1, + 3
    let mut pli = vec![0x81, 206, 0, 2];
    pli.extend_from_slice(&0x1122_3344_u32.to_be_bytes());
    pli.extend_from_slice(&0x5566_7788_u32.to_be_bytes());
    vec![sr, nack, pli]
}

fn rtcp_parse(c: &mut Criterion) {
    let packets = rtcp_packets();
    for p in &packets {
        assert!(Rtcp::try_from(p.as_slice()).is_ok(), "a valid RTCP packet: {p:?}");
    }
    let mut group = c.benchmark_group("rtcp");
    group.throughput(Throughput::Elements(packets.len() as u64));
    group.bench_function("parse_sr_nack_pli", |b| {
        b.iter(|| {
            for p in &packets {
                std::hint::black_box(Rtcp::try_from(std::hint::black_box(p.as_slice())).ok());
            }
        })
    });
    group.finish();
}

fn join_path(c: &mut Criterion) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = std::env::temp_dir().join(format!("huiyi-bench-join-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (addr, stop) = rt.block_on(async {
        let mut config = huiyi_config::Config { data_dir: dir.clone(), ..huiyi_config::Config::default() };
        config.sfu.udp_port = 0;
        config.sfu.workers = 1;
        config.log.level = "error".into();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(huiyi_signaling::run(config, listener, async {
            let _ = stopped.await;
        }));
        tokio::time::sleep(Duration::from_millis(300)).await;
        (addr, stop)
    });
    let signer = huiyi_signaling::token::Signer::load_existing(&dir).expect("the server's key");
    let url = format!("ws://{addr}/ws");
    let leave = serde_json::to_string(&ClientMsg::Leave).expect("serialises");
    let mut n = 0_u64;
    let mut group = c.benchmark_group("signaling");
    group.measurement_time(Duration::from_secs(5)).sample_size(30);
    group.bench_function("hello_to_welcome", |b| {
        b.iter(|| {
            n += 1;
            let claims = huiyi_signaling::token::Claims {
                m: "bench".into(),
                t: "基准".into(),
                p: format!("p{n}"),
                n: "会场".into(),
                r: huiyi_signaling::token::Role::Venue,
                nbf: 0,
                exp: u64::MAX / 2,
                e: 0,
            };
            let hello = ClientMsg::Hello {
                version: PROTOCOL_VERSION,
                token: Some(signer.sign(&claims)),
                demo_meeting: None,
                name: None,
                resume: None,
            };
            let hello = serde_json::to_string(&hello).expect("serialises");
            rt.block_on(async {
                let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.expect("connect");
                ws.send(Message::text(hello)).await.expect("send");
                while let Some(Ok(m)) = ws.next().await {
                    let Ok(t) = m.to_text() else { continue };
                    if matches!(serde_json::from_str::<ServerMsg>(t), Ok(ServerMsg::Welcome { .. })) {
                        break;
                    }
                }
                let _ = ws.send(Message::text(leave.as_str())).await;
                let _ = ws.close(None).await;
            });
        })
    });
    group.finish();
    let _ = stop.send(());
    std::fs::remove_dir_all(&dir).ok();
}

/// A video frame (5 datagrams of 1 000 bytes) to each of 150 subscribers
/// over loopback, as a media worker's flush sends it: one segmented send
/// (GSO) per subscriber, against every datagram through `sendmmsg` (64 to a
/// call) and through its own `sendmsg`. Only the sends are timed; on
/// loopback they include the kernel's delivery to the receiving sockets,
/// which are drained between iterations.
fn udp_send(c: &mut Criterion) {
    use huiyi_sfu::net::BatchSocket;
    use std::net::{SocketAddr, UdpSocket};
    use std::time::Instant;
    let receivers: Vec<UdpSocket> = (0..150)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
            s.set_nonblocking(true).expect("nonblocking");
            s
        })
        .collect();
    let frame: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 1000]).collect();
    let batch: Vec<(SocketAddr, &[u8])> = receivers
        .iter()
        .map(|r| r.local_addr().expect("addr"))
        .flat_map(|a| frame.iter().map(move |d| (a, &d[..])))
        .collect();
    let drain = || {
        let mut buf = [0u8; 2048];
        let mut n = 0;
        for r in &receivers {
            while r.recv(&mut buf).is_ok() {
                n += 1;
            }
        }
        n
    };
    let mut group = c.benchmark_group("udp_send");
    group.throughput(Throughput::Elements(batch.len() as u64));
    for (name, segments) in [("frame_per_subscriber_segmented", 64), ("each_datagram_sendmmsg", 1)] {
        let mut socket = BatchSocket::new(UdpSocket::bind("127.0.0.1:0").expect("bind")).expect("socket");
        socket.set_max_segments(segments);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let failed = socket.send_batch(batch.iter().copied());
                    spent += t.elapsed();
                    assert_eq!(failed, 0, "every datagram sent");
                    assert_eq!(drain(), batch.len(), "every datagram arrived");
                }
                spent
            })
        });
    }
    let socket = BatchSocket::new(UdpSocket::bind("127.0.0.1:0").expect("bind")).expect("socket");
    group.bench_function("each_datagram_sendmsg", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                for (d, c) in &batch {
                    assert!(socket.send(*d, c), "sent");
                }
                spent += t.elapsed();
                assert_eq!(drain(), batch.len(), "every datagram arrived");
            }
            spent
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    udp_send(&mut c);
    srtp_protect(&mut c);
    rtcp_parse(&mut c);
    join_path(&mut c);
    c.final_summary();
}
