//! A meeting's live feed, as its actor runs it (like [`super::taping`] for
//! the recording): started and stopped when the core says so
//! ([`Effect::Live`]), told the meeting's view after every change, stopped
//! with the meeting, and noticed when ffmpeg went.
//!
//! [`Effect::Live`]: super::core::Effect::Live

use huiyi_sfu::{RoomId, TapCodec};

use super::core::{Core, Input};
use crate::live::{Live, Lives};
use crate::recording::RecView;

/// The live side of one meeting.
#[derive(Default)]
pub(super) struct Airing {
    lives: Option<Lives>,
    current: Option<Live>,
    last: Option<RecView>,
    /// The meeting's video codec the running feed carries.
    codec: Option<TapCodec>,
    /// The feed ended by itself while following a new codec.
    failed: bool,
}

/// The media plane's name of the meeting's video codec.
fn codec_of(core: &Core) -> TapCodec {
    match core.state().video_codec {
        huiyi_protocol::VideoCodec::H264 => TapCodec::H264,
        huiyi_protocol::VideoCodec::Vp8 => TapCodec::Vp8,
    }
}

impl Airing {
    pub(super) fn new(lives: Option<Lives>) -> Self {
        Airing { lives, current: None, last: None, codec: None, failed: false }
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
        let codec = codec_of(core);
        match lives.start(core.id(), room, codec, true).await {
            Ok(live) => {
                tracing::info!(meeting = %core.id(), by = %by, "live feed started");
                self.current = Some(live);
                self.codec = Some(codec);
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

    /// The meeting changed its video codec (an H.264-only participant
    /// came): the feed goes on in it, in a new ffmpeg, the same playlist.
    /// True if it had to (then [`Airing::check`] says whether it failed).
    pub(super) async fn follow_codec(&mut self, core: &Core, room: RoomId) -> bool {
        let codec = codec_of(core);
        if self.current.is_none() || self.codec == Some(codec) {
            return false;
        }
        let Some(lives) = self.lives.clone() else { return false };
        if let Some(live) = self.current.take() {
            live.stop().await;
        }
        match lives.start(core.id(), room, codec, false).await {
            Ok(live) => {
                tracing::info!(meeting = %core.id(), ?codec, "the live feed follows the meeting's new video codec");
                self.current = Some(live);
                self.codec = Some(codec);
                self.last = None;
                self.update(core);
            }
            Err(error) => {
                tracing::warn!(meeting = %core.id(), %error, "the live feed could not follow the new codec");
                self.codec = None;
                self.failed = true; // `check` reports it ended
            }
        }
        true
    }

    /// The feed stopped by itself: the input that says so.
    pub(super) async fn check(&mut self) -> Option<Input> {
        let lost = std::mem::take(&mut self.failed);
        if !self.current.as_ref().is_some_and(Live::ended) && !lost {
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
        self.codec = None;
    }
}
