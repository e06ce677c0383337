//! A meeting carried over a server restart (carry.rs): the state comes
//! back, everyone is away until they return with their links, attendance
//! gets one new interval per return and no phantom leave.

use super::*;

/// A meeting with a chair, three venues (v1 has the floor, v2 raised its
/// hand and is being called, v3 is muted and locked), a timed floor, a roll call, broadcast, layout and spotlight.
fn busy_meeting() -> Sim {
    let mut sim = Sim::new();
    sim.join("chair", Role::Chair);
    sim.join("v1", Role::Venue);
    sim.join("v2", Role::Venue);
    sim.join("v3", Role::Venue);
    sim.ask("v2", Request::RaiseHand);
    sim.control("chair", Action::MuteAll { lock: true });
    sim.control("chair", Action::GrantFloor { participant: "v1".into(), seconds: Some(120) });
    sim.control("chair", Action::Broadcast { participants: Some(vec!["chair".into()]) });
    sim.control("chair", Action::Layout { layout: "speaker".into() });
    sim.control("chair", Action::Spotlight { participant: Some("v2".into()) });
    sim.control("chair", Action::RollCallStart { participants: None, auto: false, timeout_secs: None });
    sim.control("chair", Action::RollCallCall { participant: "v2".into() });
    sim.ask("v1", Request::SignIn);
    sim
}

fn attendance(effects: &[Effect]) -> Vec<(String, &'static str)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Record(Record::Attendance { pid, event, .. }) => Some((pid.clone(), *event)),
            _ => None,
        })
        .collect()
}

/// A new core (a restarted server) from `carried`, 30 s later.
fn restarted(sim: &Sim, carried: Carried) -> Sim {
    let now = sim.now.after(Duration::from_secs(30));
    let mut next = Sim {
        core: Core::new("m1".into(), "周例会".into(), GRACE, now),
        now,
        epochs: HashMap::new(),
        next_peer: 50,
    };
    next.core.restore(carried, now);
    next
}

#[test]
fn the_carried_state_survives_json_and_a_restart_and_everyone_is_away_until_back() {
    let before = busy_meeting();
    let carried = before.core.carried();
    let json = serde_json::to_string(&carried).expect("serializes");
    let back: Carried = serde_json::from_str(&json).expect("parses");
    assert_eq!(back, carried);
    assert_eq!(back.participants.len(), 4);
    assert!(back.participants.iter().any(|p| p.id == "v3" && p.audio_muted), "mutes are carried");

    let mut sim = restarted(&before, back);
    // The chair state is what it was.
    assert_eq!(sim.state(), before.state(), "locks, queue, floor, roll call, broadcast, layout, spotlight");
    assert!(sim.state().mics_locked && sim.state().hands == vec!["v2".to_string()]);
    assert_eq!(sim.state().floor.as_deref(), Some("v1"));
    assert_eq!(sim.state().roll_call.as_ref().and_then(|rc| rc.current.clone()).as_deref(), Some("v2"));
    // Everyone is away, nobody is recorded yet.
    for pid in ["chair", "v1", "v2", "v3"] {
        let p = sim.core.participant(pid).expect("carried");
        assert!(!p.connected, "{pid} is away until it comes back");
    }
    // v3 comes back with its link: its seat, muted as it was, a new interval.
    let effects = sim.join("v3", Role::Venue);
    let welcome = notices_to(&effects, "v3").into_iter().find_map(|n| match n {
        Notice::Welcome(w) => Some(w),
        _ => None,
    });
    let welcome = welcome.expect("welcomed");
    assert!(!welcome.resumed, "a fresh media session (the server lost the old one)");
    assert!(welcome.you.audio_muted, "still muted by the chair");
    assert_eq!(attendance(&effects), vec![("v3".to_string(), "join")]);
    assert_eq!(last_state_to(&effects, "v3").as_ref(), Some(before.state()), "told the state it left");
    // Unmuting itself is still refused: the lock came back too.
    let effects = sim.ask("v3", Request::Mute { audio: Some(false), video: None });
    assert!(refusal_to(&effects, "v3").is_some(), "the mute lock holds: {effects:?}");
}

#[test]
fn the_floor_ends_when_it_was_to_end_and_an_unreturned_seat_goes_without_a_second_leave() {
    let before = busy_meeting();
    let mut sim = restarted(&before, before.core.carried());
    sim.join("chair", Role::Chair);
    // The floor was granted for 120 s, 30 s before the restart: 90 s left.
    let effects = sim.advance(Duration::from_secs(89));
    assert_eq!(sim.state().floor.as_deref(), Some("v1"), "{effects:?}");
    sim.advance(Duration::from_secs(2));
    assert_eq!(sim.state().floor, None, "the floor ended on time");
    // The venues never come back: their seats go after RESTORE_GRACE, with
    // no leave recorded (their intervals were closed at the restart).
    let mut effects = Vec::new();
    for _ in 0..20 {
        effects.extend(sim.advance(Duration::from_secs(10)));
    }
    assert!(["v1", "v2", "v3"].iter().all(|p| sim.core.participant(p).is_none()));
    assert!(attendance(&effects).is_empty(), "no phantom leave: {:?}", attendance(&effects));
    assert!(sim.core.participant("chair").is_some(), "the chair came back and stays");
}
