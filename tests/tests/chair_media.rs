//! Chair control measured at the receivers: clients on the `webrtc` crate
//! join through the signaling socket and keep sending whatever the chair
//! decides; what the server forwards is what counts.

use std::time::Duration;

use huiyi_protocol::{ClientMsg, Control, ErrorCode, ServerMsg};
use huiyi_signaling::token::Role;
use huiyi_tests::server::TestServer;
use huiyi_tests::wait_for;
use huiyi_tests::ws_client::WsParticipant;

/// How many packets `who` receives from `from` during `d`.
async fn growth(who: &WsParticipant, from: &str, video: bool, d: Duration) -> usize {
    let before = who.got_from(from, video);
    tokio::time::sleep(d).await;
    who.got_from(from, video) - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mute_all_floor_and_broadcast_are_enforced_at_the_receivers() {
    huiyi_tests::init_logging();
    let server = TestServer::start("chair-media").await;
    let tokens = server.tokens(
        "m",
        "县委常委会",
        &[("主会场", Role::Chair), ("城关镇", Role::Venue), ("河西乡", Role::Venue)],
    );
    let mut people = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        people.push(WsParticipant::join(&server.ws, t, true, i as u64 + 1).await.expect("join"));
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let senders: Vec<_> = people.iter().map(|p| p.client.start_sending(stop_rx.clone())).collect();
    let [chair, a, b] = &people[..] else { unreachable!() };

    let flowing = wait_for(Duration::from_secs(20), || {
        people.iter().all(|p| {
            people
                .iter()
                .filter(|o| o.id != p.id)
                .all(|o| p.got_from(&o.id, true) > 30 && p.got_from(&o.id, false) > 15)
        })
    })
    .await;
    assert!(flowing, "everyone receives everyone");

    // Mute all with lock: the venues' clients keep sending audio; none of it arrives.
    chair.send(ClientMsg::Control { action: Control::MuteAll { lock: true } });
    assert!(
        wait_for(Duration::from_secs(5), || chair
            .saw(|m| matches!(m, ServerMsg::MeetingState { state } if state.mics_locked)))
        .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = Duration::from_secs(1);
    assert_eq!(growth(chair, &a.id, false, second).await, 0, "no audio from muted venue A");
    assert_eq!(growth(b, &a.id, false, Duration::ZERO).await, 0);
    assert!(growth(chair, &a.id, true, second).await > 20, "its video still flows");
    // A venue cannot unmute itself while the microphones are locked.
    a.send(ClientMsg::Mute { audio: Some(false), video: None });
    assert!(
        wait_for(Duration::from_secs(5), || a
            .saw(|m| matches!(m, ServerMsg::Error { code: ErrorCode::Forbidden, .. })))
        .await
    );
    assert_eq!(growth(chair, &a.id, false, second).await, 0, "still no audio from A");

    // The chair grants A the floor: A is heard again, B stays muted.
    chair.send(ClientMsg::Control {
        action: Control::GrantFloor { participant: a.id.clone(), seconds: None },
    });
    assert!(
        wait_for(Duration::from_secs(5), || chair.saw(|m| matches!(
            m,
            ServerMsg::MeetingState { state } if state.floor.as_deref() == Some(a.id.as_str())
        )))
        .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(growth(chair, &a.id, false, second).await > 20, "the speaker is heard");
    assert!(growth(b, &a.id, false, second).await > 20, "by everyone");
    assert_eq!(growth(chair, &b.id, false, second).await, 0, "B is still muted");

    // Broadcast the main venue: sub-venues receive only its video; the chair's monitor wall sees all.
    chair.send(ClientMsg::Control {
        action: Control::Broadcast { participants: Some(vec![chair.id.clone()]) },
    });
    assert!(
        wait_for(Duration::from_secs(5), || b.saw(|m| matches!(
            m,
            ServerMsg::MeetingState { state }
                if state.broadcast.as_deref() == Some(std::slice::from_ref(&chair.id))
        )))
        .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(growth(b, &a.id, true, second).await, 0, "sub-venue B receives no video of A");
    assert_eq!(growth(a, &b.id, true, Duration::ZERO).await, 0, "sub-venue A receives no video of B");
    assert!(growth(b, &chair.id, true, second).await > 20, "B receives the main venue");
    assert!(growth(chair, &b.id, true, second).await > 20, "the chair still sees B");
    assert!(growth(b, &a.id, false, second).await > 20, "audio is not part of the video broadcast");

    chair.send(ClientMsg::Control { action: Control::Broadcast { participants: None } });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(growth(b, &a.id, true, second).await > 20, "after the broadcast, B sees A again");

    let _ = stop_tx.send(true);
    for s in senders {
        let _ = s.await;
    }
    for p in &people {
        let _ = p.client.pc.close().await;
    }
    server.stop().await;
}
