//! Signaling: client messages as the WebSocket delivers them, through the
//! session's parse (`ClientMsg` from JSON) and `wire::request` into a live
//! meeting's sans-IO core, with a chair, a secretary, a venue, a person and
//! an observer in it and a stand-in media plane that says yes.
//!
//! Input: lines. `N{json}` is a message from participant N (0–4); `tS`
//! lets S seconds pass; `dN` drops N's connection, `aN` joins N again
//! (`rN` resumes its last session); `mN` is a media event about N's peer;
//! `e` ends the meeting, `s` shuts the server down.
//!
//! Holds: every message that parses serialises back to itself; every
//! notice the meeting sends serialises to a server message that parses
//! back to itself; nothing panics.

#![no_main]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use huiyi_protocol::{ClientMsg, Role, ServerMsg};
use huiyi_sfu::{LeaveReason, PeerId, RoomId, SfuEvent, TrackId, TrackKind};
use huiyi_signaling::clock::Now;
use huiyi_signaling::meeting::core::{Core, Effect, Guest, Input, Notice, SfuCmd, SfuFailure, SfuResult};
use huiyi_signaling::ws::wire;
use libfuzzer_sys::fuzz_target;

const PEOPLE: [(&str, Role); 5] = [
    ("chair", Role::Chair),
    ("sec", Role::Secretary),
    ("venue", Role::Venue),
    ("person", Role::Participant),
    ("observer", Role::Observer),
];
const ROOM: RoomId = RoomId(1);

struct Meeting {
    core: Core,
    now: Now,
    /// Each participant's session epoch while attached.
    epochs: HashMap<String, u64>,
    /// Each participant's last session key (from its welcome).
    sessions: HashMap<String, String>,
    peers: HashMap<String, PeerId>,
    next: u64,
}

impl Meeting {
    fn new() -> Self {
        let now = Now { mono: Instant::now(), unix_ms: 1_800_000_000_000 };
        let core = Core::new("m1".into(), "周例会".into(), Duration::from_secs(20), now);
        Self { core, now, epochs: HashMap::new(), sessions: HashMap::new(), peers: HashMap::new(), next: 1 }
    }

    fn attach(&mut self, who: usize, resume: bool) {
        let (pid, role) = PEOPLE[who];
        let guest = Guest { pid: pid.into(), name: format!("{pid} 会场"), role };
        let resume = if resume { self.sessions.get(pid).cloned() } else { None };
        self.run(Input::Attach { guest, resume });
    }

    /// Handles an input and everything the stand-in media plane answers.
    fn run(&mut self, input: Input) {
        let mut queue = vec![input];
        let mut rounds = 0;
        while let Some(input) = queue.pop() {
            rounds += 1;
            assert!(rounds < 10_000, "the meeting and the media plane never settle");
            for effect in self.core.handle(self.now, input) {
                self.carry_out(effect, &mut queue);
            }
        }
    }

    fn carry_out(&mut self, effect: Effect, queue: &mut Vec<Input>) {
        match effect {
            Effect::Admit(Ok(admitted)) => {
                self.epochs.insert(admitted.pid, admitted.epoch);
            }
            Effect::Admit(Err(refusal)) => round_trip_server(wire::error(&refusal)),
            Effect::Notify(pid, notice) => {
                if let Notice::Welcome(w) = &notice {
                    self.sessions.insert(pid, w.session.clone());
                }
                round_trip_server(wire::message(notice));
            }
            Effect::Close(pid, reason) => {
                let (code, text) = wire::close_frame(reason);
                assert!((1000..5000).contains(&code) && text.len() <= 123, "a valid close frame");
                self.epochs.remove(&pid);
            }
            Effect::Sfu(cmd) => self.media_plane(cmd, queue),
            _ => {} // records for the store, counters
        }
    }

    /// A media plane that accepts every command; an empty SDP is refused.
    fn media_plane(&mut self, cmd: SfuCmd, queue: &mut Vec<Input>) {
        match cmd {
            SfuCmd::AddPeer { pid, sdp, may_publish } => {
                if sdp.trim().is_empty() {
                    let result = Err(SfuFailure::BadSdp("empty offer".into()));
                    return queue.push(Input::Sfu(SfuResult::PeerAdded { pid, result }));
                }
                let peer = PeerId(self.next);
                self.next += 2;
                self.peers.insert(pid.clone(), peer);
                // Pushed in reverse: the result first, then the tracks, then an offer.
                queue.push(Input::Media(SfuEvent::OfferReady {
                    room: ROOM,
                    peer,
                    offer_id: self.next,
                    sdp: "v=0\r\n".into(),
                    tracks: vec![("5".into(), TrackId(self.next))],
                }));
                if may_publish {
                    for (mid, kind) in [("1", TrackKind::Video), ("0", TrackKind::Audio)] {
                        let track = TrackId(self.next + u64::from(kind == TrackKind::Video));
                        let mid = mid.into();
                        queue.push(Input::Media(SfuEvent::TrackPublished {
                            room: ROOM,
                            peer,
                            track,
                            kind,
                            mid,
                        }));
                    }
                }
                let result = Ok((peer, "v=0\r\n".to_string()));
                queue.push(Input::Sfu(SfuResult::PeerAdded { pid, result }));
            }
            SfuCmd::Renegotiate { pid, .. } => {
                queue.push(Input::Sfu(SfuResult::Renegotiated { pid, result: Ok("v=0\r\n".into()) }))
            }
            SfuCmd::AcceptAnswer { pid, offer_id, .. } => {
                queue.push(Input::Sfu(SfuResult::AnswerApplied { pid, offer_id, result: Ok(()) }))
            }
            SfuCmd::RemovePeer(peer) => queue.push(Input::Media(SfuEvent::PeerLeft {
                room: ROOM,
                peer,
                reason: LeaveReason::Removed,
            })),
            _ => {}
        }
    }

    fn media_event(&mut self, who: usize, kind: u8) {
        let Some(&peer) = self.peers.get(PEOPLE[who].0) else { return };
        let track = TrackId(peer.0 + 1);
        let event = match kind % 5 {
            0 => SfuEvent::ActiveSpeaker { room: ROOM, peer: Some(peer) },
            1 => SfuEvent::VideoPaused { room: ROOM, peer, track },
            2 => SfuEvent::VideoResumed { room: ROOM, peer, track },
            3 => SfuEvent::LayersWanted { room: ROOM, peer, track, mid: "1".into(), active: vec![0, 2] },
            _ => SfuEvent::PeerLeft { room: ROOM, peer, reason: LeaveReason::Failed },
        };
        self.run(Input::Media(event));
    }

    fn message(&mut self, who: usize, json: &str) {
        let Ok(msg) = serde_json::from_str::<ClientMsg>(json) else { return };
        let text = serde_json::to_string(&msg).expect("a parsed message serialises");
        let back: ClientMsg = serde_json::from_str(&text).expect("a message's own JSON parses");
        assert_eq!(back, msg, "client messages round-trip");
        let pid = PEOPLE[who].0;
        let (Some(request), Some(&epoch)) = (wire::request(msg), self.epochs.get(pid)) else { return };
        self.run(Input::Request { pid: pid.into(), epoch, request });
    }
}

fn round_trip_server(msg: ServerMsg) {
    let text = serde_json::to_string(&msg).expect("a server message serialises");
    let back: ServerMsg = serde_json::from_str(&text).expect("a server message's JSON parses");
    assert_eq!(back, msg, "server messages round-trip");
}

fn who(c: Option<char>) -> usize {
    c.and_then(|c| c.to_digit(10)).map_or(0, |d| d as usize % PEOPLE.len())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut m = Meeting::new();
    for i in 0..PEOPLE.len() {
        m.attach(i, false);
    }
    for line in text.lines().take(200) {
        let mut chars = line.chars();
        match chars.next() {
            Some(c @ '0'..='9') => m.message(who(Some(c)), chars.as_str()),
            Some('t') => {
                let secs: u64 = chars.as_str().trim().parse().unwrap_or(1);
                m.now = m.now.after(Duration::from_secs(secs.min(3600)));
                m.run(Input::Tick);
            }
            Some('d') => {
                let pid = PEOPLE[who(chars.next())].0;
                if let Some(epoch) = m.epochs.remove(pid) {
                    m.run(Input::Detach { pid: pid.into(), epoch });
                }
            }
            Some('a') => m.attach(who(chars.next()), false),
            Some('r') => m.attach(who(chars.next()), true),
            Some('m') => {
                let w = who(chars.next());
                m.media_event(w, chars.next().map_or(0, |c| c as u8));
            }
            Some('e') => m.run(Input::End),
            Some('s') => m.run(Input::Shutdown),
            _ => {}
        }
    }
});
