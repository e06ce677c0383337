//! A meeting's live feed, as its actor runs it (like [`super::taping`] for
//! the recording): started and stopped when the core says so
//! ([`Effect::Live`]), told the meeting's view after every change, stopped
//! with the meeting, and noticed when ffmpeg went.
//!
//! [`Effect::Live`]: super::core::Effect::Live

use huiyi_sfu::RoomId;

use super::core::{Core, Input};
use crate::live::{Live, Lives};
use crate::recording::RecView;

/// The live side of one meeting.
#[derive(Default)]
pub(super) struct Airing {
    lives: Option<Lives>,
    current: Option<Live>,
    last: Option<RecView>,
}

impl Airing {
    pub(super) fn new(lives: Option<Lives>) -> Self {
        Airing { lives, current: None, last: None }
    }

    /// Starts or stops; the result for the core.
    pub(super) async fn apply(&mut self, on: bool, by: &str, core: &Core, room: RoomId) -> Input {
        if !on {
            self.stop().await;
            tracing::info!(meeting = %core.id(), by = %by, "live feed stopped");
            return Input::Aired { since: None, error: None };
        }
        if self.current.is_some() {
            return Input::Aired { since: core.state().live_since, error: None };
        }
        let Some(lives) = &self.lives else {
            return Input::Aired { since: None, error: Some("this server has no live feed".into()) };
        };
        match lives.start(core.id(), room).await {
            Ok(live) => {
                tracing::info!(meeting = %core.id(), by = %by, "live feed started");
                self.current = Some(live);
                self.last = None;
                self.update(core);
                Input::Aired { since: Some(crate::clock::unix_millis()), error: None }
            }
            Err(error) => Input::Aired { since: None, error: Some(error) },
        }
    }

    /// Tells the feed the meeting's view, when it changed.
    pub(super) fn update(&mut self, core: &Core) {
        let Some(live) = &self.current else { return };
        let view = core.rec_view();
        if self.last.as_ref() != Some(&view) && live.view(view.clone()) {
            self.last = Some(view);
        }
    }

    /// The feed stopped by itself: the input that says so.
    pub(super) async fn check(&mut self) -> Option<Input> {
        if !self.current.as_ref().is_some_and(Live::ended) {
            return None;
        }
        self.stop().await;
        Some(Input::Aired {
            since: None,
            error: Some("ffmpeg stopped (its log: live/<meeting>/ffmpeg.log)".into()),
        })
    }

    /// Stops the feed, if one runs.
    pub(super) async fn stop(&mut self) {
        if let Some(live) = self.current.take() {
            live.stop().await;
        }
        self.last = None;
    }
}
