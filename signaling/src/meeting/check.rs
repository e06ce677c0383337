//! The pre-join media check (issue 13): before a venue joins, its browser
//! opens a short-lived peer connection (one data channel, no media) to the
//! media plane. A venue whose network lets no media through is then told so
//! on the pre-join screen, with the ports to ask for, instead of joining
//! into tiles that never move.
//!
//! Check peers live in a room of their own that no meeting uses
//! ([`CHECK_ROOM`]; meeting rooms count from 1). Nothing is published there,
//! so nothing is forwarded; each check peer is removed after
//! [`CHECK_LIFETIME`], and at most [`MAX_CHECKS`] exist at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use huiyi_sfu::{PeerId, RoomId, SfuError};
use tokio::sync::{OnceCell, Semaphore};

use super::Meetings;

/// The media room of check peers.
pub const CHECK_ROOM: RoomId = RoomId(0);
/// How long a check peer lives: its connection is established within a
/// few seconds or not at all (TURN over TLS included).
pub const CHECK_LIFETIME: Duration = Duration::from_secs(20);
/// Check peers at once; beyond, a check is refused as busy (a county's
/// venues open their pre-join screens over minutes, not in one second).
pub const MAX_CHECKS: usize = 32;

/// The check room and its slots, shared by every clone of [`Meetings`].
pub(super) struct Checks {
    room: OnceCell<()>,
    slots: Arc<Semaphore>,
    /// Checks started, and refused because all slots were taken.
    pub started: AtomicU64,
    pub busy: AtomicU64,
}

impl Default for Checks {
    fn default() -> Self {
        Self {
            room: OnceCell::new(),
            slots: Arc::new(Semaphore::new(MAX_CHECKS)),
            started: AtomicU64::new(0),
            busy: AtomicU64::new(0),
        }
    }
}

/// Why a check could not start.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Every check slot is taken.
    #[error("too many media checks at once; try again in a few seconds")]
    Busy,
    /// The offer is not one the media plane accepts.
    #[error("{0}")]
    BadOffer(String),
    /// The media plane failed.
    #[error("media plane: {0}")]
    Media(String),
}

impl Meetings {
    /// Starts a media check from the browser's SDP offer; returns the answer.
    pub async fn media_check(&self, offer: String) -> Result<String, CheckError> {
        let checks = &self.checks;
        let Ok(permit) = checks.slots.clone().try_acquire_owned() else {
            checks.busy.fetch_add(1, Ordering::Relaxed);
            return Err(CheckError::Busy);
        };
        checks
            .room
            .get_or_try_init(|| async {
                match self.sfu.create_room(CHECK_ROOM).await {
                    Ok(()) | Err(SfuError::RoomExists(_)) => Ok(()),
                    Err(e) => Err(CheckError::Media(e.to_string())),
                }
            })
            .await?;
        let peer = PeerId(self.next_peer.fetch_add(1, Ordering::Relaxed));
        let answer = self.sfu.add_receiver(CHECK_ROOM, peer, offer).await.map_err(|e| match e {
            SfuError::BadSdp(_) => CheckError::BadOffer(e.to_string()),
            e => CheckError::Media(e.to_string()),
        })?;
        checks.started.fetch_add(1, Ordering::Relaxed);
        let sfu = self.sfu.clone();
        tokio::spawn(async move {
            tokio::time::sleep(CHECK_LIFETIME).await;
            let _ = sfu.remove_peer(CHECK_ROOM, peer).await;
            drop(permit);
        });
        Ok(answer)
    }

    /// Checks started, and refused as busy (for `/metrics`).
    pub fn media_check_counts(&self) -> (u64, u64) {
        (self.checks.started.load(Ordering::Relaxed), self.checks.busy.load(Ordering::Relaxed))
    }
}
