//! Chair control over the signaling socket: who may do what, microphone
//! locks and the unmute policy, the speaking queue with a timed floor,
//! removal with a bar, meeting lock, end of meeting.

mod common;

use std::time::Duration;

use common::*;
use huiyi_protocol::{ClientMsg, Control};
use huiyi_signaling::store::{SqliteStore, Store};
use huiyi_signaling::token::Role;
use serde_json::{json, Value};

async fn join(s: &Server, pid: &str, name: &str, role: Role) -> (Ws, Value) {
    let mut ws = connect(s, None).await.expect("upgrade");
    send_msg(&mut ws, &hello(token(s, pid, name, role))).await;
    let w = recv_type(&mut ws, "welcome").await;
    (ws, w)
}

/// The next `meeting_state` for which `pred` holds.
async fn state_where(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let m = recv_type(ws, "meeting_state").await;
        if pred(&m) {
            return m;
        }
    }
}

/// The next `participant_updated` about `pid` for which `pred` holds.
async fn update_of(ws: &mut Ws, pid: &str, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let m = recv_type(ws, "participant_updated").await;
        if m["participant"]["id"] == pid && pred(&m["participant"]) {
            return m;
        }
    }
}

#[tokio::test]
async fn only_hosts_control_and_locked_mics_stay_muted() {
    let s = server("chair-mics", false).await;
    let (mut chair, _) = join(&s, "p1", "主会场", Role::Chair).await;
    let (mut venue, _) = join(&s, "p2", "城关镇", Role::Venue).await;
    let (mut person, _) = join(&s, "p3", "张三", Role::Participant).await;

    // A participant cannot control the meeting.
    send_msg(&mut person, &control(Control::MuteAll { lock: true })).await;
    assert_eq!(recv_type(&mut person, "error").await["code"], "forbidden");

    // Mute all with lock: everyone but the chair is muted and cannot unmute.
    send_msg(&mut chair, &control(Control::MuteAll { lock: true })).await;
    let st = state_where(&mut person, |m| m["mics_locked"] == true).await;
    assert_eq!(st["chair"], "p1");
    send_msg(&mut person, &ClientMsg::Mute { audio: Some(false), video: None }).await;
    assert_eq!(recv_type(&mut person, "error").await["code"], "forbidden");
    update_of(&mut chair, "p3", |p| p["audio_muted"] == true).await;

    // The chair unmutes the venue terminal directly.
    send_msg(&mut chair, &control(Control::MuteParticipant { participant: "p2".into(), muted: false })).await;
    update_of(&mut venue, "p2", |p| p["audio_muted"] == false).await;

    // A person is asked, and may then unmute despite the lock.
    send_msg(&mut chair, &control(Control::MuteParticipant { participant: "p3".into(), muted: false })).await;
    assert_eq!(recv_type(&mut person, "unmute_request").await["by"], "p1");
    send_msg(&mut person, &ClientMsg::Mute { audio: Some(false), video: None }).await;
    update_of(&mut chair, "p3", |p| p["audio_muted"] == false).await;
}

#[tokio::test]
async fn speaking_request_gets_a_timed_floor() {
    let s = server("chair-floor", false).await;
    let (mut chair, _) = join(&s, "p1", "主会场", Role::Chair).await;
    let (mut venue, _) = join(&s, "p2", "城关镇", Role::Venue).await;
    let (mut observer, _) = join(&s, "p4", "列席", Role::Observer).await;
    send_msg(&mut chair, &control(Control::MuteAll { lock: true })).await;

    send_msg(&mut observer, &ClientMsg::RaiseHand).await;
    assert_eq!(recv_type(&mut observer, "error").await["code"], "forbidden");

    send_msg(&mut venue, &ClientMsg::RaiseHand).await;
    state_where(&mut chair, |m| m["hands"] == json!(["p2"])).await;
    send_msg(&mut chair, &control(Control::GrantFloor { participant: "p2".into(), seconds: Some(1) })).await;
    let st = state_where(&mut venue, |m| m["floor"] == "p2").await;
    assert_eq!(st["hands"], json!([]));
    assert!(st["floor_ends_at"].as_u64().is_some(), "a speaking timer runs");
    update_of(&mut chair, "p2", |p| p["audio_muted"] == false).await;
    // The timer ends the speech and closes the microphone.
    update_of(&mut chair, "p2", |p| p["audio_muted"] == true).await;
    let st = state_where(&mut chair, |m| m["floor"].is_null()).await;
    assert!(st["floor_ends_at"].is_null());

    // Decline and lower all hands.
    send_msg(&mut venue, &ClientMsg::RaiseHand).await;
    state_where(&mut chair, |m| m["hands"] == json!(["p2"])).await;
    send_msg(&mut chair, &control(Control::DeclineHand { participant: "p2".into() })).await;
    state_where(&mut venue, |m| m["hands"] == json!([])).await;
}

#[tokio::test]
async fn removal_with_bar_lock_and_end() {
    let s = server("chair-remove", false).await;
    let (mut chair, _) = join(&s, "p1", "主会场", Role::Chair).await;
    let (mut venue, _) = join(&s, "p2", "城关镇", Role::Venue).await;

    send_msg(&mut chair, &control(Control::RemoveParticipant { participant: "p2".into(), bar: true })).await;
    assert_eq!(close_code(&mut venue).await, Some(4003));
    let left = recv_type(&mut chair, "participant_left").await;
    assert_eq!(left["reason"], "removed");
    let mut again = connect(&s, None).await.expect("upgrade");
    send_msg(&mut again, &hello(token(&s, "p2", "城关镇", Role::Venue))).await;
    let e = recv_type(&mut again, "error").await;
    assert_eq!(e["code"], "forbidden", "a barred participant gets a clear refusal: {e}");

    send_msg(&mut chair, &control(Control::LockMeeting { locked: true })).await;
    state_where(&mut chair, |m| m["locked"] == true).await;
    let mut late = connect(&s, None).await.expect("upgrade");
    send_msg(&mut late, &hello(token(&s, "p5", "迟到", Role::Participant))).await;
    assert_eq!(recv_type(&mut late, "error").await["code"], "meeting_closed");

    let (mut secretary, _) = {
        send_msg(&mut chair, &control(Control::LockMeeting { locked: false })).await;
        state_where(&mut chair, |m| m["locked"] == false).await;
        join(&s, "p6", "会务", Role::Secretary).await
    };
    // The secretary takes the chair over, then ends the meeting for everyone.
    send_msg(&mut secretary, &control(Control::TakeChair)).await;
    state_where(&mut chair, |m| m["chair"] == "p6").await;
    send_msg(&mut secretary, &control(Control::EndMeeting)).await;
    assert_eq!(close_code(&mut chair).await, Some(4002));
    assert_eq!(close_code(&mut secretary).await, Some(4002));
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn layouts_spotlight_and_broadcast_reach_everyone() {
    let s = server("chair-layout", false).await;
    let (mut chair, _) = join(&s, "p1", "主会场", Role::Chair).await;
    let (mut venue, _) = join(&s, "p2", "城关镇", Role::Venue).await;
    send_msg(&mut chair, &control(Control::Layout { layout: "1+5".into() })).await;
    state_where(&mut venue, |m| m["layout"] == "1+5").await;
    send_msg(&mut chair, &control(Control::Layout { layout: "7x7".into() })).await;
    assert_eq!(recv_type(&mut chair, "error").await["code"], "bad_message");
    send_msg(&mut chair, &control(Control::Spotlight { participant: Some("p2".into()) })).await;
    state_where(&mut venue, |m| m["spotlight"] == "p2").await;
    send_msg(&mut chair, &control(Control::Broadcast { participants: Some(vec!["p1".into()]) })).await;
    state_where(&mut venue, |m| m["broadcast"] == json!(["p1"])).await;
    send_msg(&mut chair, &control(Control::Broadcast { participants: Some(vec!["nobody".into()]) })).await;
    assert_eq!(recv_type(&mut chair, "error").await["code"], "bad_message");
    send_msg(&mut chair, &control(Control::TransferChair { participant: "p2".into() })).await;
    let st = state_where(&mut venue, |m| m["chair"] == "p2").await;
    assert_eq!(st["chair"], "p2");
    update_of(&mut chair, "p2", |p| p["role"] == "chair").await;
}

fn status_of(state: &Value, pid: &str) -> String {
    state["roll_call"]["entries"]
        .as_array()
        .and_then(|es| es.iter().find(|e| e["participant"] == pid))
        .map(|e| e["status"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn roll_call_by_hand_and_automatic() {
    let s = server("rollcall", false).await;
    let (mut chair, _) = join(&s, "p1", "主会场", Role::Chair).await;
    let (mut v2, _) = join(&s, "p2", "城关镇", Role::Venue).await;
    let (mut v3, _) = join(&s, "p3", "河西乡", Role::Venue).await;
    send_msg(&mut chair, &control(Control::MuteAll { lock: true })).await;
    state_where(&mut chair, |m| m["mics_locked"] == true).await;

    // By hand, with a venue that has not joined.
    let start = Control::RollCallStart {
        participants: Some(vec!["p2".into(), "p9".into(), "p3".into()]),
        auto: false,
        timeout_secs: None,
    };
    send_msg(&mut chair, &control(start)).await;
    state_where(&mut chair, |m| m["roll_call"]["entries"].as_array().is_some_and(|e| e.len() == 3)).await;
    send_msg(&mut chair, &control(Control::RollCallCall { participant: "p2".into() })).await;
    // The called venue is shown to everyone and its microphone opens.
    update_of(&mut v3, "p2", |p| p["audio_muted"] == false).await;
    let st = state_where(&mut v3, |m| m["roll_call"]["current"] == "p2").await;
    assert_eq!(st["spotlight"], "p2");
    send_msg(&mut v2, &ClientMsg::RollCallAnswer).await;
    state_where(&mut chair, |m| status_of(m, "p2") == "answered").await;
    send_msg(&mut chair, &control(Control::RollCallCall { participant: "p9".into() })).await;
    update_of(&mut chair, "p2", |p| p["audio_muted"] == true).await; // its call ended: microphone closed again
    let st = state_where(&mut chair, |m| status_of(m, "p9") == "not_joined").await;
    assert!(st["roll_call"]["current"].is_null());
    send_msg(&mut chair, &control(Control::RollCallCall { participant: "p3".into() })).await;
    state_where(&mut chair, |m| m["roll_call"]["current"] == "p3").await;
    send_msg(&mut chair, &control(Control::RollCallNext)).await;
    let st = state_where(&mut chair, |m| m["roll_call"]["finished"] == true).await;
    assert_eq!(
        (status_of(&st, "p2"), status_of(&st, "p9"), status_of(&st, "p3")),
        ("answered".into(), "not_joined".into(), "no_answer".into())
    );

    // Automatic: p2 answers by click, p3 stays silent and times out.
    let auto = Control::RollCallStart { participants: None, auto: true, timeout_secs: Some(3) };
    send_msg(&mut chair, &control(auto)).await;
    state_where(&mut v2, |m| m["roll_call"]["current"] == "p2" && m["roll_call"]["finished"] == false).await;
    send_msg(&mut v2, &ClientMsg::RollCallAnswer).await;
    state_where(&mut chair, |m| m["roll_call"]["current"] == "p3").await;
    let st = state_where(&mut chair, |m| m["roll_call"]["finished"] == true).await;
    assert_eq!((status_of(&st, "p2"), status_of(&st, "p3")), ("answered".into(), "no_answer".into()));
    let _ = &mut v3;
    // Both roll calls are on record for the attendance, in the database.
    let store = SqliteStore::open(&s.dir.join("huiyi.db")).expect("the server's database");
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = store.roll_calls("m1").expect("roll calls");
        if lines.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].entries[1].status, "not_joined");
    assert!(lines[1].auto);
}
