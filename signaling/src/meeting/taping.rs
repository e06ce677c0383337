//! A meeting's recording, as its actor runs it: started and stopped when
//! the core says so ([`Effect::Recording`]), told the meeting's view after
//! every change, stopped when the meeting ends or the server stops, and
//! noticed when it stopped by itself (the disk filled).
//!
//! [`Effect::Recording`]: super::core::Effect::Recording

use huiyi_sfu::RoomId;

use super::core::{Core, Input};
use crate::recording::{RecView, Recording, Recordings};

/// The recording side of one meeting.
#[derive(Default)]
pub(super) struct Taping {
    recordings: Option<Recordings>,
    current: Option<Recording>,
    last: Option<RecView>,
}

impl Taping {
    pub(super) fn new(recordings: Option<Recordings>) -> Self {
        Taping { recordings, current: None, last: None }
    }

    /// Starts or stops; the result for the core.
    pub(super) async fn apply(&mut self, on: bool, by: Option<String>, core: &Core, room: RoomId) -> Input {
        if !on {
            self.stop(None).await;
            return Input::Recorded { since: None, by, error: None };
        }
        if self.current.is_some() {
            return Input::Recorded { since: core.state().recording_since, by: None, error: None };
        }
        let Some(recordings) = &self.recordings else {
            let error = Some("this server does not record".to_string());
            return Input::Recorded { since: None, by, error };
        };
        let who = by.clone().unwrap_or_else(|| "server".into());
        match recordings.start(core.id(), core.title(), room, &who).await {
            Ok(r) => {
                self.current = Some(r);
                self.last = None;
                self.update(core);
                Input::Recorded { since: Some(crate::clock::unix_millis()), by: None, error: None }
            }
            Err(error) => {
                tracing::warn!(meeting = %core.id(), %error, "the recording did not start");
                Input::Recorded { since: None, by, error: Some(error) }
            }
        }
    }

    /// Tells the recorder the meeting's view, when it changed.
    pub(super) fn update(&mut self, core: &Core) {
        let Some(r) = &self.current else { return };
        let view = core.rec_view();
        if self.last.as_ref() != Some(&view) && r.view(view.clone()) {
            self.last = Some(view);
        }
    }

    /// The recorder stopped by itself: the input that says so.
    pub(super) async fn check(&mut self) -> Option<Input> {
        if !self.current.as_ref().is_some_and(Recording::ended) {
            return None;
        }
        self.stop(None).await;
        Some(Input::Recorded { since: None, by: None, error: None })
    }

    /// Stops the recording, if one runs.
    pub(super) async fn stop(&mut self, reason: Option<&str>) {
        if let Some(r) = self.current.take() {
            r.stop(reason).await;
        }
        self.last = None;
    }
}
