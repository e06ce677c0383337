//! The signaling WebSocket as a client sees it: hello and tokens, typed
//! errors for bad input, close codes for violations, chat between sessions.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use huiyi_protocol::{ClientMsg, PROTOCOL_VERSION};
use huiyi_signaling::token::Role;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn hello_requires_a_valid_token() {
    let s = server("token", false).await;
    let mut ws = connect(&s, None).await.expect("upgrade");
    send_msg(&mut ws, &hello("forged.token")).await;
    let m = recv(&mut ws).await.expect("an error first");
    assert_eq!(m["type"], "error");
    assert_eq!(m["code"], "unauthorized");
    assert_eq!(close_code(&mut ws).await, Some(1008));

    // Demo joins are refused when demo mode is off.
    let mut ws = connect(&s, None).await.expect("upgrade");
    let demo = ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        token: None,
        demo_meeting: Some("x".into()),
        name: None,
        resume: None,
    };
    send_msg(&mut ws, &demo).await;
    assert_eq!(recv(&mut ws).await.expect("error")["code"], "unauthorized");

    // Another protocol version gets a clear answer.
    let mut ws = connect(&s, None).await.expect("upgrade");
    let future = ClientMsg::Hello {
        version: 9,
        token: Some(token(&s, "p1", "甲", Role::Chair)),
        demo_meeting: None,
        name: None,
        resume: None,
    };
    send_msg(&mut ws, &future).await;
    assert_eq!(recv(&mut ws).await.expect("error")["code"], "unsupported_version");
}

#[tokio::test]
async fn foreign_origins_are_refused() {
    let s = server("origin", false).await;
    assert!(connect(&s, Some("https://evil.example")).await.is_err(), "403 on upgrade");
    let own = format!("http://{}", s.addr);
    assert!(connect(&s, Some(&own)).await.is_ok());
}

#[tokio::test]
async fn bad_messages_get_errors_and_the_session_goes_on() {
    let s = server("bad", false).await;
    let mut ws = connect(&s, None).await.expect("upgrade");
    send_msg(&mut ws, &hello(token(&s, "p1", "县政府办", Role::Chair))).await;
    let w = recv_type(&mut ws, "welcome").await;
    assert_eq!(w["you"]["name"], "县政府办");
    assert_eq!(w["meeting"]["title"], "例会");
    for bad in [
        "{",
        "[]",
        "{\"type\":\"warp\"}",
        "{\"type\":\"chat\"}",
        "{\"type\":\"answer\",\"offer_id\":\"x\",\"sdp\":1}",
    ] {
        ws.send(Message::text(bad)).await.expect("send");
        let e = recv_type(&mut ws, "error").await;
        assert_eq!(e["code"], "bad_message", "{bad}");
    }
    ws.send(Message::binary(vec![1, 2, 3])).await.expect("send");
    assert_eq!(recv_type(&mut ws, "error").await["code"], "bad_message");
    send_msg(&mut ws, &ClientMsg::Publish { sdp: "v=0 not sdp".into(), tracks: Vec::new(), restart: false })
        .await;
    assert_eq!(recv_type(&mut ws, "error").await["code"], "bad_sdp");
    send_msg(&mut ws, &ClientMsg::Chat { text: String::new() }).await;
    assert_eq!(recv_type(&mut ws, "error").await["code"], "bad_message");
    // Still alive.
    send_msg(&mut ws, &ClientMsg::Ping { nonce: 7 }).await;
    assert_eq!(recv_type(&mut ws, "pong").await["nonce"], 7);
    // A flood is rate limited, and then the session is closed as abusive.
    for _ in 0..200 {
        if ws.send(Message::text("{\"type\":\"ping\"}")).await.is_err() {
            break;
        }
    }
    let mut limited = false;
    let mut code = None;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        match frame {
            Message::Text(t) if t.contains("rate_limited") => limited = true,
            Message::Close(f) => {
                code = f.map(|f| u16::from(f.code));
                break;
            }
            _ => {}
        }
    }
    assert!(limited, "rate limited");
    assert_eq!(code, Some(1008), "closed for abuse");
}

#[tokio::test]
async fn observers_cannot_publish() {
    let s = server("observer", false).await;
    let mut ws = connect(&s, None).await.expect("upgrade");
    send_msg(&mut ws, &hello(token(&s, "p9", "列席", Role::Observer))).await;
    recv_type(&mut ws, "welcome").await;
    let sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\n";
    send_msg(&mut ws, &ClientMsg::Publish { sdp: sdp.into(), tracks: Vec::new(), restart: false }).await;
    assert_eq!(recv_type(&mut ws, "error").await["code"], "forbidden");
}

#[tokio::test]
async fn chat_presence_resume_and_leave() {
    let s = server("chat", false).await;
    let mut a = connect(&s, None).await.expect("a");
    send_msg(&mut a, &hello(token(&s, "p1", "主会场", Role::Chair))).await;
    recv_type(&mut a, "welcome").await;
    let mut b = connect(&s, None).await.expect("b");
    send_msg(&mut b, &hello(token(&s, "p2", "城关镇", Role::Venue))).await;
    let wb = recv_type(&mut b, "welcome").await;
    assert_eq!(wb["participants"][0]["name"], "主会场");
    let joined = recv_type(&mut a, "participant_joined").await;
    assert_eq!(joined["participant"]["role"], "venue");

    send_msg(&mut b, &ClientMsg::Chat { text: "城关镇已到".into() }).await;
    let chat = recv_type(&mut a, "chat").await;
    assert_eq!((chat["from"].as_str(), chat["text"].as_str()), (Some("p2"), Some("城关镇已到")));

    // B's socket drops; within the grace period it resumes and A never sees it leave.
    let session = wb["session"].as_str().expect("session").to_string();
    drop(b);
    let upd = recv_type(&mut a, "participant_updated").await;
    assert_eq!(upd["participant"]["connected"], false);
    let mut b = connect(&s, None).await.expect("b again");
    let resume = ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        token: Some(token(&s, "p2", "城关镇", Role::Venue)),
        demo_meeting: None,
        name: None,
        resume: Some(session),
    };
    send_msg(&mut b, &resume).await;
    let w2 = recv_type(&mut b, "welcome").await;
    assert_eq!(w2["resumed"], true);
    let upd = recv_type(&mut a, "participant_updated").await;
    assert_eq!(upd["participant"]["connected"], true);

    // Leaving is immediate and final.
    send_msg(&mut b, &ClientMsg::Leave).await;
    assert_eq!(close_code(&mut b).await, Some(1000));
    let left = recv_type(&mut a, "participant_left").await;
    assert_eq!((left["id"].as_str(), left["reason"].as_str()), (Some("p2"), Some("left")));
}

#[tokio::test]
async fn a_dropped_participant_leaves_after_the_grace_period() {
    let s = server("grace", false).await;
    let mut a = connect(&s, None).await.expect("a");
    send_msg(&mut a, &hello(token(&s, "p1", "主会场", Role::Chair))).await;
    recv_type(&mut a, "welcome").await;
    let mut b = connect(&s, None).await.expect("b");
    send_msg(&mut b, &hello(token(&s, "p2", "乡镇", Role::Venue))).await;
    recv_type(&mut b, "welcome").await;
    drop(b);
    let left = recv_type(&mut a, "participant_left").await; // grace is 2 s in this test
    assert_eq!((left["id"].as_str(), left["reason"].as_str()), (Some("p2"), Some("timeout")));
}
