//! What of a live meeting survives a server restart (issue 14, ADR 0013).
//!
//! The meeting's *carried* state is what the chair and the participants made
//! of it: the chair state (locks, the speaking queue, the floor and its end,
//! a roll call, broadcast, layout, spotlight, who holds the chair, the
//! codec) and who was in it, with their roles, mutes and sign-ins. The
//! actor writes it to the store whenever it changes; media sessions are not
//! carried (every client makes a fresh one when it comes back).
//!
//! After a restart the meeting opens with everyone who was in it *away*, as
//! if each had dropped: each comes back with its own link within
//! [`RESTORE_GRACE`] and takes its seat with its mutes; whoever does not
//! is removed then. Their attendance was closed at the crash (or at the
//! stop), so a return opens a new interval and a seat that is never taken
//! again records no second leave.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ChairState, Core, Participant, ParticipantView, Role};
use crate::clock::Now;
use crate::token::random_id;

/// How long a seat carried over a restart waits for its holder: a client
/// retries its connection within a minute of the server coming back, a
/// venue PC restarting its browser takes longer.
pub const RESTORE_GRACE: Duration = Duration::from_secs(180);

/// The carried state of one live meeting (stored as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carried {
    /// The format's version.
    pub version: u32,
    /// The chair-controlled state.
    pub state: ChairState,
    /// Who is in the meeting (present or away), by id.
    pub participants: Vec<CarriedParticipant>,
    /// Removed by the chair and barred from rejoining.
    pub barred: Vec<String>,
    /// Asked by the chair to unmute (allowed despite locked microphones).
    pub unmute_allowed: Vec<String>,
    /// The venue whose microphone the current roll-call call opened.
    pub roll_opened_mic: Option<String>,
}

/// One participant as it is carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarriedParticipant {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Role (a transfer of the chair changes it).
    pub role: Role,
    /// Microphone muted.
    pub audio_muted: bool,
    /// Camera off.
    pub video_muted: bool,
    /// Signed in.
    pub signed_in: bool,
}

/// The carried format this server writes.
pub const CARRIED_VERSION: u32 = 1;

impl Core {
    /// The meeting's carried state now.
    pub fn carried(&self) -> Carried {
        let mut participants: Vec<CarriedParticipant> = self
            .participants
            .values()
            .map(|p| CarriedParticipant {
                id: p.view.id.clone(),
                name: p.view.name.clone(),
                role: p.view.role,
                audio_muted: p.view.audio_muted,
                video_muted: p.view.video_muted,
                signed_in: p.view.signed_in,
            })
            .collect();
        participants.sort_by(|a, b| a.id.cmp(&b.id));
        let mut barred: Vec<String> = self.barred.iter().cloned().collect();
        barred.sort();
        let mut unmute_allowed: Vec<String> = self.unmute_allowed.iter().cloned().collect();
        unmute_allowed.sort();
        Carried {
            version: CARRIED_VERSION,
            state: self.state.clone(),
            participants,
            barred,
            unmute_allowed,
            roll_opened_mic: self.roll_opened_mic.clone(),
        }
    }

    /// Opens the meeting as it was: its chair state, and everyone who was in
    /// it away (see the module's text). Timers restart from `now`: the
    /// floor ends when it was to end, a roll call's current call gets its
    /// full time again.
    pub fn restore(&mut self, carried: Carried, now: Now) {
        self.now = now;
        self.state = carried.state;
        self.barred = carried.barred.into_iter().collect();
        self.unmute_allowed = carried.unmute_allowed.into_iter().collect();
        self.roll_opened_mic = carried.roll_opened_mic;
        self.floor_deadline = self
            .state
            .floor_ends_at
            .map(|end| now.mono + Duration::from_millis(end.saturating_sub(now.unix_ms)));
        self.roll_deadline = self.state.roll_call.as_ref().and_then(|rc| {
            (rc.auto && !rc.finished && rc.current.is_some())
                .then(|| now.mono + Duration::from_secs(u64::from(rc.timeout_secs)))
        });
        for c in carried.participants {
            let view = ParticipantView {
                id: c.id.clone(),
                name: c.name,
                role: c.role,
                audio_muted: c.audio_muted,
                video_muted: c.video_muted,
                quality: None,
                connected: false,
                signed_in: c.signed_in,
            };
            self.participants.insert(
                c.id,
                Participant {
                    view,
                    session_key: random_id(18),
                    epoch: 0,
                    attached: false,
                    peer: None,
                    tracks: Vec::new(),
                    sources: HashMap::new(),
                    receive_video: true,
                    tiles: Vec::new(),
                    pending_offer: None,
                    gone_since: Some(now.mono),
                    video_codecs: None,
                    carried: true,
                },
            );
        }
        self.ever_joined = !self.participants.is_empty();
        tracing::info!(meeting = %self.id, participants = self.participants.len(), "meeting restored after a restart");
    }

    /// How long a dropped participant's seat waits.
    pub(super) fn grace_of(&self, p: &Participant) -> Duration {
        if p.carried {
            self.grace.max(RESTORE_GRACE)
        } else {
            self.grace
        }
    }
}
