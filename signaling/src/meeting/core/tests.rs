//! The meeting's rules on simulated time: no sockets, no tasks, no real
//! seconds. Each test drives a `Core` with inputs and checks its effects.

use std::time::{Duration, Instant};

use huiyi_sfu::{PeerId, RoomId, SfuEvent, TrackId, TrackKind};

use super::*;

const GRACE: Duration = Duration::from_secs(20);

struct Sim {
    core: Core,
    now: Now,
    epochs: HashMap<String, u64>,
    next_peer: u64,
}

impl Sim {
    fn new() -> Self {
        let now = Now { mono: Instant::now(), unix_ms: 1_800_000_000_000 };
        Self {
            core: Core::new("m1".into(), "周例会".into(), GRACE, now),
            now,
            epochs: HashMap::new(),
            next_peer: 1,
        }
    }

    fn input(&mut self, input: Input) -> Vec<Effect> {
        self.core.handle(self.now, input)
    }

    fn advance(&mut self, d: Duration) -> Vec<Effect> {
        self.now = self.now.after(d);
        self.input(Input::Tick)
    }

    fn join(&mut self, pid: &str, role: Role) -> Vec<Effect> {
        let guest = Guest { pid: pid.into(), name: format!("{pid}-name"), role };
        let effects = self.input(Input::Attach { guest, resume: None });
        let epoch = admitted(&effects).unwrap_or_else(|| panic!("{pid} not admitted: {effects:?}"));
        self.epochs.insert(pid.into(), epoch);
        effects
    }

    fn ask(&mut self, pid: &str, request: Request) -> Vec<Effect> {
        let epoch = self.epochs[pid];
        self.input(Input::Request { pid: pid.into(), epoch, request })
    }

    fn control(&mut self, pid: &str, action: Action) -> Vec<Effect> {
        self.ask(pid, Request::Control(action))
    }

    /// `pid` publishes a microphone: its media session and audio track exist.
    fn publish_audio(&mut self, pid: &str) -> (PeerId, TrackId) {
        let effects = self.ask(pid, Request::Publish { sdp: "v=0".into(), tracks: vec![], restart: false });
        assert!(effects.iter().any(|e| matches!(e, Effect::Sfu(SfuCmd::AddPeer { pid: p, .. }) if p == pid)));
        let peer = PeerId(self.next_peer);
        let track = TrackId(100 + self.next_peer);
        self.next_peer += 1;
        let effects = self
            .input(Input::Sfu(SfuResult::PeerAdded { pid: pid.into(), result: Ok((peer, "answer".into())) }));
        assert!(notices_to(&effects, pid).contains(&Notice::Answer { sdp: "answer".into() }));
        self.input(Input::Media(SfuEvent::TrackPublished {
            room: RoomId(1),
            peer,
            track,
            kind: TrackKind::Audio,
            mid: "0".into(),
        }));
        (peer, track)
    }

    fn state(&self) -> &ChairState {
        self.core.state()
    }
}

fn admitted(effects: &[Effect]) -> Option<u64> {
    effects.iter().find_map(|e| match e {
        Effect::Admit(Ok(a)) => Some(a.epoch),
        _ => None,
    })
}

fn notices_to(effects: &[Effect], pid: &str) -> Vec<Notice> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Notify(p, n) if p == pid => Some(n.clone()),
            _ => None,
        })
        .collect()
}

fn refusal_to(effects: &[Effect], pid: &str) -> Option<RefusalKind> {
    notices_to(effects, pid).into_iter().find_map(|n| match n {
        Notice::Refused(r) => Some(r.kind),
        _ => None,
    })
}

fn last_state_to(effects: &[Effect], pid: &str) -> Option<ChairState> {
    notices_to(effects, pid).into_iter().rev().find_map(|n| match n {
        Notice::State(s) => Some(s),
        _ => None,
    })
}

#[test]
fn a_timed_floor_closes_the_microphone_when_its_time_is_up() {
    let mut sim = Sim::new();
    sim.join("chair", Role::Chair);
    sim.join("v1", Role::Venue);
    let (peer, track) = sim.publish_audio("v1");
    sim.control("chair", Action::MuteAll { lock: true });
    let effects = sim.control("chair", Action::GrantFloor { participant: "v1".into(), seconds: Some(60) });
    assert!(effects.contains(&Effect::Sfu(SfuCmd::SetMuted(peer, track, false))), "the floor opens the mic");
    assert_eq!(sim.state().floor.as_deref(), Some("v1"));
    assert_eq!(sim.state().floor_ends_at, Some(sim.now.unix_ms + 60_000));
    assert_eq!(sim.core.next_deadline(), Some(sim.now.mono + Duration::from_secs(60)));

    let effects = sim.advance(Duration::from_secs(59));
    assert!(effects.is_empty(), "nothing before the time: {effects:?}");
    let effects = sim.advance(Duration::from_secs(1));
    assert!(effects.contains(&Effect::Sfu(SfuCmd::SetMuted(peer, track, true))), "the mic closes at 60 s");
    assert_eq!(last_state_to(&effects, "chair").map(|s| s.floor), Some(None));
    assert!(sim.core.participant("v1").is_some_and(|p| p.audio_muted));
    // Microphones stay locked: the speaker cannot reopen its own.
    let effects = sim.ask("v1", Request::Mute { audio: Some(false), video: None });
    assert_eq!(refusal_to(&effects, "v1"), Some(RefusalKind::Forbidden));
}

#[test]
fn an_automatic_roll_call_walks_the_venues_on_its_timeout() {
    let mut sim = Sim::new();
    sim.join("chair", Role::Chair);
    sim.join("v1", Role::Venue);
    sim.join("v2", Role::Venue);
    let (p1, t1) = sim.publish_audio("v1");
    sim.ask("v1", Request::Mute { audio: Some(true), video: None });
    let effects = sim.control(
        "chair",
        Action::RollCallStart {
            participants: Some(vec!["v1".into(), "absent".into(), "v2".into()]),
            auto: true,
            timeout_secs: Some(5),
        },
    );
    assert!(effects.contains(&Effect::Sfu(SfuCmd::SetMuted(p1, t1, false))), "a called venue's mic opens");
    let rc = sim.state().roll_call.clone().expect("running");
    assert_eq!(rc.current.as_deref(), Some("v1"));
    assert_eq!(sim.state().spotlight.as_deref(), Some("v1"));

    let effects = sim.advance(Duration::from_secs(5));
    assert!(effects.contains(&Effect::Sfu(SfuCmd::SetMuted(p1, t1, true))), "and closes after its call");
    let rc = sim.state().roll_call.clone().expect("running");
    let status = |id: &str| rc.entries.iter().find(|e| e.participant == id).map(|e| e.status);
    assert_eq!(status("v1"), Some(RollStatus::NoAnswer));
    assert_eq!(status("absent"), Some(RollStatus::NotJoined), "the absent one is skipped");
    assert_eq!(rc.current.as_deref(), Some("v2"));

    sim.advance(Duration::from_secs(1));
    let effects = sim.ask("v2", Request::RollCallAnswer);
    let rc = sim.state().roll_call.clone().expect("kept");
    assert!(rc.finished);
    assert_eq!(rc.entries[2].answered_at, Some(sim.now.unix_ms));
    let recorded = effects.iter().find_map(|e| match e {
        Effect::Record(Record::RollCall(rc)) => Some(rc.clone()),
        _ => None,
    });
    assert_eq!(recorded.map(|r| r.entries.len()), Some(3), "the finished roll call is recorded");
    assert_eq!(sim.core.next_deadline(), None);
}

#[test]
fn a_locked_microphone_opens_only_when_the_chair_asks() {
    let mut sim = Sim::new();
    sim.join("chair", Role::Chair);
    sim.join("p", Role::Participant);
    sim.control("chair", Action::MuteAll { lock: true });
    let effects = sim.ask("p", Request::Mute { audio: Some(false), video: None });
    assert_eq!(refusal_to(&effects, "p"), Some(RefusalKind::Forbidden));
    let effects = sim.control("p", Action::UnlockMics);
    assert_eq!(refusal_to(&effects, "p"), Some(RefusalKind::Forbidden), "chair control is the chair's");

    let effects = sim.control("chair", Action::MuteParticipant { participant: "p".into(), muted: false });
    assert!(notices_to(&effects, "p").contains(&Notice::UnmuteRequest { by: "chair".into() }));
    let effects = sim.ask("p", Request::Mute { audio: Some(false), video: None });
    assert_eq!(refusal_to(&effects, "p"), None);
    assert!(sim.core.participant("p").is_some_and(|p| !p.audio_muted));
}

#[test]
fn the_chair_is_whoever_holds_it_and_passes_on_when_it_leaves() {
    let mut sim = Sim::new();
    sim.join("sec", Role::Secretary);
    let effects = sim.join("c1", Role::Chair);
    assert_eq!(last_state_to(&effects, "sec").and_then(|s| s.chair), Some("c1".into()), "everyone is told");
    sim.join("c2", Role::Chair);
    sim.join("p", Role::Participant);
    assert_eq!(sim.state().chair.as_deref(), Some("c1"), "the first chair holds it");

    sim.control("c1", Action::TransferChair { participant: "p".into() });
    assert_eq!(sim.state().chair.as_deref(), Some("p"));
    assert_eq!(sim.core.participant("c1").map(|v| v.role), Some(Role::Participant));
    assert_eq!(sim.core.participant("p").map(|v| v.role), Some(Role::Chair));

    // A chair who does not hold it may pass it on too: the holder steps down.
    sim.control("c2", Action::TransferChair { participant: "c1".into() });
    assert_eq!(sim.state().chair.as_deref(), Some("c1"));
    assert_eq!(sim.core.participant("p").map(|v| v.role), Some(Role::Participant), "the holder steps down");
    assert_eq!(sim.core.participant("c2").map(|v| v.role), Some(Role::Chair), "the asker keeps its role");
    sim.control("c1", Action::TransferChair { participant: "p".into() });

    sim.control("sec", Action::TakeChair);
    assert_eq!(sim.state().chair.as_deref(), Some("sec"));
    assert_eq!(sim.core.participant("p").map(|v| v.role), Some(Role::Participant), "the holder steps down");
    assert_eq!(sim.core.participant("sec").map(|v| v.role), Some(Role::Secretary), "a secretary stays one");

    let effects = sim.ask("sec", Request::Leave);
    assert!(effects.contains(&Effect::Close("sec".into(), CloseReason::Left)));
    assert_eq!(sim.state().chair.as_deref(), Some("c2"), "another chair present takes it");
    sim.ask("c2", Request::Leave);
    assert_eq!(sim.state().chair, None, "nobody holds it");
}

#[test]
fn a_dropped_participant_may_resume_within_the_grace_period_only() {
    let mut sim = Sim::new();
    sim.join("c", Role::Chair);
    let effects = sim.join("v1", Role::Venue);
    let Some(Notice::Welcome(w)) = notices_to(&effects, "v1").into_iter().next() else {
        panic!("welcome first")
    };
    let key = w.session.clone();
    sim.input(Input::Detach { pid: "v1".into(), epoch: sim.epochs["v1"] });
    assert!(sim.core.participant("v1").is_some_and(|p| !p.connected));
    assert_eq!(sim.core.next_deadline(), Some(sim.now.mono + GRACE));

    sim.advance(GRACE - Duration::from_secs(1));
    let guest = Guest { pid: "v1".into(), name: "v1".into(), role: Role::Venue };
    let effects = sim.input(Input::Attach { guest, resume: Some(key) });
    let Some(Notice::Welcome(w)) = notices_to(&effects, "v1").into_iter().next() else { panic!("welcome") };
    assert!(w.resumed);
    assert!(sim.core.participant("v1").is_some_and(|p| p.connected));

    let epoch = admitted(&effects).expect("admitted");
    sim.input(Input::Detach { pid: "v1".into(), epoch });
    let effects = sim.advance(GRACE);
    assert!(sim.core.participant("v1").is_none(), "gone after the grace period");
    assert!(effects.iter().any(
        |e| matches!(e, Effect::Record(Record::Attendance { pid, event: "leave", reason, .. }) if pid == "v1" && reason == "timeout")
    ));
    assert!(notices_to(&effects, "c").contains(&Notice::Left { id: "v1".into(), reason: "timeout".into() }));
}

#[test]
fn observers_cannot_publish_or_queue_and_removed_participants_stay_out() {
    let mut sim = Sim::new();
    sim.join("c", Role::Chair);
    sim.join("o", Role::Observer);
    let sending = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\n".to_string();
    let effects = sim.ask("o", Request::Publish { sdp: sending, tracks: vec![], restart: false });
    assert_eq!(refusal_to(&effects, "o"), Some(RefusalKind::Forbidden));
    assert!(!effects.iter().any(|e| matches!(e, Effect::Sfu(_))), "nothing reaches the media plane");
    let effects = sim.ask("o", Request::RaiseHand);
    assert_eq!(refusal_to(&effects, "o"), Some(RefusalKind::Forbidden));

    let effects = sim.control("c", Action::RemoveParticipant { participant: "o".into(), bar: true });
    assert!(effects.contains(&Effect::Close("o".into(), CloseReason::Removed)));
    let guest = Guest { pid: "o".into(), name: "o".into(), role: Role::Observer };
    let effects = sim.input(Input::Attach { guest, resume: None });
    assert!(matches!(effects.as_slice(), [Effect::Admit(Err(Refusal { kind: RefusalKind::Forbidden, .. }))]));
}

#[test]
fn ending_closes_everyone_and_records_their_leaves() {
    let mut sim = Sim::new();
    sim.join("c", Role::Chair);
    sim.join("v1", Role::Venue);
    let (peer, _) = sim.publish_audio("v1");
    let effects = sim.control("c", Action::EndMeeting);
    assert!(effects.iter().any(|e| matches!(e, Effect::Record(Record::Ended { by, .. }) if by == "c")));
    assert!(effects.contains(&Effect::Close("v1".into(), CloseReason::EndedByChair)));
    assert!(effects.contains(&Effect::Sfu(SfuCmd::RemovePeer(peer))));
    let leaves = effects
        .iter()
        .filter(|e| matches!(e, Effect::Record(Record::Attendance { event: "leave", reason, .. }) if reason == "ended"))
        .count();
    assert_eq!(leaves, 2);
    assert!(sim.core.finished());
}

/// Issue 11: a second use of a link while its holder is connected is
/// refused and the holder told; once the holder has dropped, or with
/// `takeover`, the newcomer takes the seat. Chat with control characters
/// is refused.
#[test]
fn a_second_use_of_a_link_is_refused_while_its_holder_is_here() {
    let mut sim = Sim::new();
    sim.join("chair", Role::Chair);
    sim.join("v1", Role::Venue);
    let guest = Guest { pid: "v1".into(), name: "v1-name".into(), role: Role::Venue };
    let effects = sim.input(Input::Attach { guest: guest.clone(), resume: None });
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Admit(Err(r)) if r.kind == RefusalKind::InUse)),
        "{effects:?}"
    );
    assert!(notices_to(&effects, "v1").contains(&Notice::LinkReused), "the holder is told");
    assert!(!effects.iter().any(|e| matches!(e, Effect::Close(..))), "the holder stays");

    sim.core.takeover = true;
    let effects = sim.input(Input::Attach { guest, resume: None });
    assert!(admitted(&effects).is_some(), "takeover allowed: {effects:?}");
    assert!(effects.iter().any(|e| matches!(e, Effect::Close(p, CloseReason::Replaced(_)) if p == "v1")));

    let effects = sim.ask("chair", Request::Chat { text: "hello\u{1b}[2J".into() });
    assert_eq!(refusal_to(&effects, "chair"), Some(RefusalKind::BadRequest));
}

/// Issue 12: the floor holder's video comes first for every subscriber;
/// the media plane is told when it changes, and a subscriber's tile sizes
/// go to its peer.
#[test]
fn the_floor_holder_is_featured_and_tiles_reach_the_media_plane() {
    let mut sim = Sim::new();
    sim.join("chair", Role::Chair);
    sim.join("v1", Role::Venue);
    let (peer, track) = sim.publish_audio("v1");
    let effects = sim.control("chair", Action::GrantFloor { participant: "v1".into(), seconds: None });
    assert!(effects.contains(&Effect::Sfu(SfuCmd::SetFeatured(vec![peer]))), "{effects:?}");
    let effects = sim.control("chair", Action::EndSpeech);
    assert!(effects.contains(&Effect::Sfu(SfuCmd::SetFeatured(vec![]))), "{effects:?}");
    let effects = sim.ask("v1", Request::View { tiles: vec![(track, Some(0))] });
    assert!(effects.contains(&Effect::Sfu(SfuCmd::SetTileLimits(peer, vec![(track, Some(0))]))));
}

/// Issue 15: under audio top-N the chair is always heard; the media plane
/// learns who holds the chair when its peer exists and when it passes on.
#[test]
fn the_chair_is_always_heard_and_the_media_plane_follows_a_transfer() {
    let mut sim = Sim::new();
    sim.join("chair", Role::Chair);
    sim.join("v1", Role::Venue);
    let (v1, _) = sim.publish_audio("v1");
    let effects = sim.ask("chair", Request::Publish { sdp: "v=0".into(), tracks: vec![], restart: false });
    assert!(!effects.iter().any(|e| matches!(e, Effect::Sfu(SfuCmd::SetAlwaysHeard(_)))));
    let chair = PeerId(sim.next_peer);
    let effects =
        sim.input(Input::Sfu(SfuResult::PeerAdded { pid: "chair".into(), result: Ok((chair, "a".into())) }));
    assert!(effects.contains(&Effect::Sfu(SfuCmd::SetAlwaysHeard(vec![chair]))), "{effects:?}");
    let effects = sim.control("chair", Action::TransferChair { participant: "v1".into() });
    assert!(effects.contains(&Effect::Sfu(SfuCmd::SetAlwaysHeard(vec![v1]))), "{effects:?}");
}

#[test]
fn a_participant_without_vp8_moves_the_meeting_to_h264_for_everyone() {
    let mut sim = Sim::new();
    sim.join("chair", Role::Chair);
    sim.join("kit", Role::Venue);
    sim.publish_audio("chair");
    assert_eq!(sim.state().video_codec, huiyi_protocol::VideoCodec::Vp8, "VP8 by default");
    let h264_only = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\na=sendonly\r\n";
    let effects = sim.ask("kit", Request::Publish { sdp: h264_only.into(), tracks: vec![], restart: false });
    assert_eq!(sim.state().video_codec, huiyi_protocol::VideoCodec::H264);
    for pid in ["chair", "kit"] {
        let told = last_state_to(&effects, pid).expect("the new state goes to everyone");
        assert_eq!(told.video_codec, huiyi_protocol::VideoCodec::H264, "{pid} is told to send H.264");
    }
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Sfu(SfuCmd::AddPeer { pid, .. }) if pid == "kit")),
        "the offer itself goes on to the media plane"
    );
}

#[test]
fn no_switch_to_h264_while_someone_cannot_decode_it() {
    let mut sim = Sim::new();
    sim.join("chair", Role::Chair);
    sim.join("firefox", Role::Venue);
    sim.join("kit", Role::Venue);
    // Firefox without its downloaded H.264 plugin offers VP8 only.
    let vp8_only = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\na=sendonly\r\n";
    sim.ask("firefox", Request::Publish { sdp: vp8_only.into(), tracks: vec![], restart: false });
    let h264_only = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\na=sendonly\r\n";
    sim.ask("kit", Request::Publish { sdp: h264_only.into(), tracks: vec![], restart: false });
    assert_eq!(
        sim.state().video_codec,
        huiyi_protocol::VideoCodec::Vp8,
        "VP8 stays: Firefox could not decode H.264"
    );
}

mod carry;

#[test]
fn a_publish_lists_at_most_sixteen_tracks_and_each_list_replaces_the_last() {
    let mut sim = Sim::new();
    sim.join("v1", Role::Venue);
    let many: Vec<_> = (0..17).map(|i| (format!("m{i}"), Source::Screen)).collect();
    let effects = sim.ask("v1", Request::Publish { sdp: "v=0".into(), tracks: many, restart: false });
    assert_eq!(refusal_to(&effects, "v1"), Some(RefusalKind::TooLarge));
    assert!(!effects.iter().any(|e| matches!(e, Effect::Sfu(_))), "nothing reaches the media plane");

    // First a screen share on mid 1, then a publish that no longer lists it:
    // a video later published on mid 1 is a camera again.
    let screen = vec![("1".to_string(), Source::Screen)];
    sim.ask("v1", Request::Publish { sdp: "v=0".into(), tracks: screen, restart: false });
    sim.input(Input::Sfu(SfuResult::PeerAdded {
        pid: "v1".into(),
        result: Ok((PeerId(7), "answer".into())),
    }));
    let camera_only = vec![("0".to_string(), Source::Camera)];
    sim.ask("v1", Request::Publish { sdp: "v=0".into(), tracks: camera_only, restart: false });
    let effects = sim.input(Input::Media(SfuEvent::TrackPublished {
        room: RoomId(1),
        peer: PeerId(7),
        track: TrackId(70),
        kind: TrackKind::Video,
        mid: "1".into(),
    }));
    let announced = notices_to(&effects, "v1").into_iter().find_map(|n| match n {
        Notice::Track(t) => Some(t.source),
        _ => None,
    });
    assert_eq!(announced, Some(Source::Camera), "the old list was replaced, not extended");
}

#[test]
fn the_chair_goes_live_and_everyone_is_told() {
    let mut sim = Sim::new();
    sim.join("chair", Role::Chair);
    sim.join("p", Role::Participant);
    let effects = sim.control("p", Action::Live { on: true });
    assert_eq!(refusal_to(&effects, "p"), Some(RefusalKind::Forbidden), "going live is the chair's");
    assert!(!effects.iter().any(|e| matches!(e, Effect::Live { .. })));
    let effects = sim.control("chair", Action::Live { on: true });
    assert!(effects.contains(&Effect::Live { on: true, by: "chair".into() }));
    // The feed started: everyone's meeting state says so.
    let effects = sim.input(Input::Aired { since: Some(1_000), error: None });
    assert_eq!(sim.core.state().live_since, Some(1_000));
    assert!(!notices_to(&effects, "p").is_empty(), "the participant is sent the new state");
    // Asked again while it runs: nothing to do.
    let effects = sim.input(Input::Live { on: true, by: "secretary".into() });
    assert!(!effects.iter().any(|e| matches!(e, Effect::Live { .. })));
    // ffmpeg went: the state says so.
    sim.input(Input::Aired { since: None, error: Some("ffmpeg stopped".into()) });
    assert_eq!(sim.core.state().live_since, None);
    let effects = sim.input(Input::Live { on: true, by: "secretary".into() });
    assert!(effects.contains(&Effect::Live { on: true, by: "secretary".into() }));
}
