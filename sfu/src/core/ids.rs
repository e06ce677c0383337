//! Typed identifiers. The control plane chooses room and peer ids; the core
//! chooses track ids.

use std::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id!(
    /// A room: one live meeting's media, owned by exactly one worker.
    RoomId
);
id!(
    /// A participant's WebRTC connection, unique across the server.
    PeerId
);
id!(
    /// A published track (one m-line a peer sends), unique within a worker.
    TrackId
);

/// The kind of media a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackKind {
    /// Opus audio.
    Audio,
    /// VP8 or H.264 video.
    Video,
}

impl From<str0m::media::MediaKind> for TrackKind {
    fn from(kind: str0m::media::MediaKind) -> Self {
        match kind {
            str0m::media::MediaKind::Audio => TrackKind::Audio,
            str0m::media::MediaKind::Video => TrackKind::Video,
        }
    }
}

impl From<TrackKind> for str0m::media::MediaKind {
    fn from(kind: TrackKind) -> Self {
        match kind {
            TrackKind::Audio => str0m::media::MediaKind::Audio,
            TrackKind::Video => str0m::media::MediaKind::Video,
        }
    }
}
