//! Layers nobody receives (issue 12): a publisher is asked to stop encoding
//! a simulcast layer that no subscriber has wanted for [`IDLE_AFTER`], and to
//! send it again as soon as one does (`SfuEvent::LayersWanted`; the client
//! sets `active` on its encodings). A venue PC then encodes only what the
//! meeting shows, and the intranet carries only what is forwarded.
//!
//! A stopped layer stays on offer: the allocators see it at the bitrate it
//! had when it stopped, so a subscriber whose estimate or tile grows can
//! still be given it; the next pass asks the publisher for it again, and
//! the switch happens at its first keyframe as usual. The lowest layer is
//! never stopped (a newcomer gets a picture at once), nor is anything of a
//! publisher without simulcast.

use std::time::{Duration, Instant};

use crate::core::engine::Engine;
use crate::core::events::SfuEvent;

/// A layer nobody targeted for this long is stopped.
pub const IDLE_AFTER: Duration = Duration::from_secs(10);

impl Engine {
    /// Compares what the subscribers target with what each publisher
    /// sends; tells publishers whose set of wanted layers changed. Runs with
    /// the periodic reallocation.
    pub(crate) fn update_layer_use(&mut self, now: Instant) {
        for pk in 0..self.peers.len() {
            let Some(p) = self.peers[pk].as_ref() else { continue };
            let (room, peer, remote) = (p.room, p.id, p.origin.is_some());
            for ui in 0..p.up.len() {
                let Some(up) = self.peers[pk].as_ref().and_then(|p| p.up[ui].as_ref()) else { continue };
                if up.layers.len() < 2 {
                    continue;
                }
                // Layers some subscriber forwards or is switching to.
                let mut wanted = 0u8;
                for s in &up.subscribers {
                    let Some(d) = self
                        .peers
                        .get(s.peer)
                        .and_then(Option::as_ref)
                        .and_then(|sp| sp.down.get(s.down))
                        .and_then(Option::as_ref)
                    else {
                        continue;
                    };
                    for q in [d.layer.target, d.layer.current].into_iter().flatten() {
                        wanted |= 1 << crate::core::allocate::spatial(q);
                    }
                }
                let (track, mid) = (up.id, up.mid);
                let lowest = up.layers.iter().map(|l| l.spatial).min().unwrap_or(0);
                if remote {
                    // Its publisher's worker decides (ADR 0018), with what
                    // every shard says it forwards.
                    self.relay_layer_use(pk, ui, wanted);
                    if let Some(up) = self.peers[pk].as_mut().and_then(|p| p.up[ui].as_mut()) {
                        for l in up.layers.iter_mut().filter(|l| !l.stopped && l.rate(now) > 0) {
                            l.held = None;
                        }
                    }
                    continue;
                }
                let Some(up) = self.peers[pk].as_mut().and_then(|p| p.up[ui].as_mut()) else { continue };
                wanted |= Engine::remote_layer_wants(up, now);
                let mut changed = false;
                for l in &mut up.layers {
                    let wants = wanted & (1 << l.spatial) != 0 || l.spatial == lowest;
                    if wants {
                        l.last_wanted = Some(now);
                        if l.stopped {
                            l.stopped = false; // `held` stays until it is measured again
                            changed = true;
                        }
                    } else if !l.stopped
                        && l.last_wanted.is_none_or(|t| now.saturating_duration_since(t) >= IDLE_AFTER)
                        && l.rate(now) > 0
                    {
                        l.held = Some(l.temporal.each_ref().map(|m| m.rate(now)));
                        l.stopped = true;
                        changed = true;
                    }
                    if !l.stopped && l.rate(now) > 0 {
                        l.held = None; // flowing again: its own measure from now on
                    }
                }
                if changed {
                    let mut active: Vec<u8> =
                        up.layers.iter().filter(|l| !l.stopped).map(|l| l.spatial).collect();
                    active.sort_unstable();
                    tracing::debug!(room = room.0, peer = peer.0, track = track.0, ?active, "layers wanted");
                    self.relay_layers_held(pk, ui);
                    self.events.push_back(SfuEvent::LayersWanted {
                        room,
                        peer,
                        track,
                        mid: mid.to_string(),
                        active,
                    });
                }
            }
        }
    }
}
