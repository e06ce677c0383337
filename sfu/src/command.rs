//! The commands the control plane sends a media worker, and how the
//! worker's engine applies each.

use std::time::Instant;

use tokio::sync::oneshot;

use crate::core::events::SfuError;
use crate::core::ids::{PeerId, RoomId, TrackId, TrackKind};
use crate::core::relay::Relay;
use crate::core::tap::{Tap, TapKind};
use crate::core::Engine;

pub(crate) type Reply<T> = oneshot::Sender<Result<T, SfuError>>;

/// A command for one worker.
pub(crate) enum Command {
    CreateRoom {
        room: RoomId,
        reply: Reply<()>,
    },
    CloseRoom {
        room: RoomId,
        reply: Reply<()>,
    },
    AddPeer {
        room: RoomId,
        peer: PeerId,
        offer: String,
        may_publish: bool,
        reply: Reply<String>,
    },
    AddViewer {
        room: RoomId,
        peer: PeerId,
        offer: String,
        reply: Reply<String>,
    },
    BindViewer {
        peer: PeerId,
        kind: TrackKind,
        track: Option<TrackId>,
        reply: Reply<()>,
    },
    Renegotiate {
        peer: PeerId,
        offer: String,
        reply: Reply<String>,
    },
    AcceptAnswer {
        peer: PeerId,
        offer_id: u64,
        answer: String,
        reply: Reply<()>,
    },
    RemovePeer {
        peer: PeerId,
        reply: Reply<()>,
    },
    SetMuted {
        peer: PeerId,
        track: TrackId,
        muted: bool,
        reply: Reply<()>,
    },
    SetReceiveVideo {
        peer: PeerId,
        receive: bool,
        reply: Reply<()>,
    },
    SetVideoSources {
        peer: PeerId,
        sources: Option<Vec<PeerId>>,
        reply: Reply<()>,
    },
    SetFeatured {
        room: RoomId,
        featured: Vec<PeerId>,
        reply: Reply<()>,
    },
    SetAlwaysHeard {
        room: RoomId,
        peers: Vec<PeerId>,
        reply: Reply<()>,
    },
    SetTileLimits {
        peer: PeerId,
        limits: Vec<(TrackId, Option<u8>)>,
        reply: Reply<()>,
    },
    SetTap {
        room: RoomId,
        kind: TapKind,
        tap: Option<Tap>,
        reply: Reply<()>,
    },
    RecordingKeyframe {
        room: RoomId,
        track: TrackId,
        reply: Reply<()>,
    },
    /// Opens a shard of a room whose other parts are on these workers (ADR 0018).
    OpenShard {
        room: RoomId,
        workers: Vec<usize>,
    },
    /// Another worker opened a shard of a room this one holds.
    AddShard {
        room: RoomId,
        worker: usize,
    },
    /// Messages from the worker that holds another part of a room.
    Relay(Vec<Relay>),
    /// How many of a spread room's peers are on other workers (sent before
    /// a peer joins this worker's part: the room's size decides whether
    /// the newcomer gets a bandwidth estimator).
    PeersElsewhere {
        room: RoomId,
        peers: usize,
    },
    Shutdown,
}

impl Command {
    pub(crate) fn apply(self, engine: &mut Engine, now: Instant) {
        // A dropped receiver means the caller gave up waiting; nothing to do.
        match self {
            Command::CreateRoom { room, reply } => drop(reply.send(engine.create_room(room))),
            Command::CloseRoom { room, reply } => drop(reply.send(engine.close_room(now, room))),
            Command::AddPeer { room, peer, offer, may_publish, reply } => {
                drop(reply.send(engine.add_peer_with(now, room, peer, &offer, may_publish)))
            }
            Command::AddViewer { room, peer, offer, reply } => {
                drop(reply.send(engine.add_viewer(now, room, peer, &offer)))
            }
            Command::BindViewer { peer, kind, track, reply } => {
                drop(reply.send(engine.bind_viewer(now, peer, kind, track)))
            }
            Command::Renegotiate { peer, offer, reply } => {
                drop(reply.send(engine.renegotiate(now, peer, &offer)))
            }
            Command::AcceptAnswer { peer, offer_id, answer, reply } => {
                drop(reply.send(engine.accept_answer(now, peer, offer_id, &answer)))
            }
            Command::RemovePeer { peer, reply } => drop(reply.send(engine.remove_peer(now, peer))),
            Command::SetMuted { peer, track, muted, reply } => {
                drop(reply.send(engine.set_muted(now, peer, track, muted)))
            }
            Command::SetReceiveVideo { peer, receive, reply } => {
                drop(reply.send(engine.set_receive_video(now, peer, receive)))
            }
            Command::SetVideoSources { peer, sources, reply } => {
                drop(reply.send(engine.set_video_sources(now, peer, sources)))
            }
            Command::SetFeatured { room, featured, reply } => {
                drop(reply.send(engine.set_featured(now, room, featured)))
            }
            Command::SetTileLimits { peer, limits, reply } => {
                drop(reply.send(engine.set_tile_limits(now, peer, limits)))
            }
            Command::SetAlwaysHeard { room, peers, reply } => {
                drop(reply.send(engine.set_always_heard(room, peers)))
            }
            Command::SetTap { room, kind, tap, reply } => {
                drop(reply.send(engine.set_tap(now, room, kind, tap)))
            }
            Command::RecordingKeyframe { room, track, reply } => {
                drop(reply.send(engine.keyframe_for_recording(now, room, track)))
            }
            Command::OpenShard { room, workers } => {
                if let Err(e) = engine.open_shard(room, workers) {
                    tracing::warn!(error = %e, "room shard not opened");
                }
            }
            Command::AddShard { room, worker } => {
                if let Err(e) = engine.add_shard(room, worker) {
                    tracing::debug!(error = %e, "a shard of a room closed here");
                }
            }
            Command::PeersElsewhere { room, peers } => engine.set_peers_elsewhere(room, peers),
            Command::Relay(messages) => engine.handle_relays(now, messages),
            Command::Shutdown => {}
        }
    }
}
