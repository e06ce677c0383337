//! Voice lines (issue 15, ADR 0015): a listener who joins a large room gets
//! one audio m-line per slot of the room's audio top-N, N for the voices and
//! [`PINNED_LINES`] for the always-heard publishers, instead of one m-line
//! per microphone. Line `i` carries whichever microphone holds slot `i`; when
//! the slot changes hands every listener's line `i` is rebound to the new
//! holder, its rewriter keeping the numbers continuous (as a WHEP viewer's
//! line moves between sources). A training of ten open microphones then
//! costs each listener three audio streams (and their state in str0m), not
//! ten.
//!
//! Peers that joined before the room was large keep one m-line per
//! microphone. Once a room has voice lines, top-N applies to it whatever its
//! size, since those listeners hear only the slots.

use crate::core::engine::Engine;
use crate::core::ids::{RoomId, TrackId, TrackKind};
use crate::core::layers::LayerChoice;
use crate::core::negotiate::Change;
use crate::core::peer::{DownTrack, PeerKey, Subscriber};
use crate::core::topn::PINNED_LINES;
use str0m::media::Mid;

impl Engine {
    /// The voice lines a peer joining `room` now gets (their track ids), if
    /// the room is large enough for audio top-N: as many as there are
    /// microphones to hear, up to N (a plenary with one speaking venue takes
    /// one); a slot taken beyond them later (another voice, an always-heard
    /// publisher's, at its first packet) adds its line.
    pub(crate) fn voice_lines_for_newcomer(&mut self, room: RoomId) -> Option<Vec<TrackId>> {
        let n = self.cfg.audio_top_n;
        let r = self.rooms.get(&room)?;
        if n == 0 || !self.cfg.voice_lines || !r.large(self.cfg.audio_top_n_min_peers) {
            return None;
        }
        if r.voice_ids.is_empty() {
            let ids: Vec<TrackId> = (0..n + PINNED_LINES).map(|_| self.new_track_id()).collect();
            self.rooms.get_mut(&room)?.voice_ids = ids;
        }
        let r = &self.rooms[&room];
        let microphones = r.tracks.values().filter(|&&at| self.is_audio(at)).count();
        Some(r.voice_ids.iter().take(microphones.min(n)).copied().collect())
    }

    /// Subscribes a peer that joined `room` to everything already
    /// published there; in a large room its audio comes on voice lines.
    pub(crate) fn subscribe_newcomer(&mut self, room: RoomId, pk: PeerKey) {
        let voices = self.voice_lines_for_newcomer(room);
        let Some(r) = self.rooms.get(&room) else { return };
        let mut tracks: Vec<TrackId> = r
            .tracks
            .iter()
            .filter(|(_, &at)| voices.is_none() || !self.is_audio(at))
            .map(|(t, _)| *t)
            .collect();
        if let Some(ids) = &voices {
            tracks.extend(ids);
            if let Some(r) = self.rooms.get_mut(&room) {
                r.voice_peers.push(pk);
            }
        }
        if let Some(p) = self.peer_mut(pk) {
            p.voices = voices.map(|ids| vec![None; ids.len()]);
            p.neg.queued.extend(tracks.into_iter().map(Change::Add));
        }
    }

    /// Whether up track `ui` of `owner` is a microphone.
    fn is_audio(&self, (owner, ui): (PeerKey, usize)) -> bool {
        self.peers[owner]
            .as_ref()
            .and_then(|o| o.up.get(ui)?.as_ref())
            .is_some_and(|u| u.kind == TrackKind::Audio)
    }

    /// Which voice line of `room` track id `track` names.
    pub(crate) fn voice_line_index(&self, room: RoomId, track: TrackId) -> Option<usize> {
        self.rooms.get(&room)?.voice_ids.iter().position(|t| *t == track)
    }

    /// The answer is in: the listener's m-line `mid` is its voice line
    /// `line`, carrying the slot's holder from now on.
    pub(crate) fn start_voice_line(&mut self, pk: PeerKey, mid: Mid, line: usize, track: TrackId) {
        let seed = track.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (pk as u64).rotate_left(17);
        let Some(p) = self.peer_mut(pk) else { return };
        let room = p.room;
        let di = p.insert_down(DownTrack::new(mid, None, TrackKind::Audio, seed));
        let Some(lines) = p.voices.as_mut() else { return };
        if lines.len() <= line {
            lines.resize(line + 1, None);
        }
        lines[line] = Some(di);
        let Some(r) = self.rooms.get(&room) else { return };
        let source = r.audio_slots.holder(line).and_then(|t| r.tracks.get(&t).copied());
        self.rebind(pk, di, source.filter(|(owner, _)| *owner != pk), LayerChoice::audio());
    }

    /// Slot `line` of `room` changed hands: every listener's voice line
    /// `line` carries `source` now (nothing, for the holder itself). A
    /// listener without that line yet is offered it (and those before it).
    pub(crate) fn bind_voice_line(&mut self, room: RoomId, line: usize, source: Option<(PeerKey, usize)>) {
        let Some(r) = self.rooms.get(&room) else { return };
        let ids = r.voice_ids.clone();
        for pk in r.voice_peers.clone() {
            let Some(p) = self.peer_mut(pk) else { continue };
            let Some(lines) = p.voices.as_mut() else { continue };
            if lines.len() > line {
                continue;
            }
            let have = lines.len();
            lines.resize(line + 1, None);
            p.neg.queued.extend(ids.iter().take(line + 1).skip(have).map(|t| Change::Add(*t)));
            self.maybe_offer(pk);
        }
        let Some(r) = self.rooms.get(&room) else { return };
        let listeners: Vec<(PeerKey, usize)> = r
            .voice_peers
            .iter()
            .filter_map(|&pk| Some((pk, (*self.peers[pk].as_ref()?.voices.as_ref()?.get(line)?)?)))
            .collect();
        for (pk, di) in listeners {
            self.rebind(pk, di, source.filter(|(owner, _)| *owner != pk), LayerChoice::audio());
        }
    }

    /// Moves down track `di` of `pk` to `source` (an up track), or unbinds
    /// it; a new source starts a new rewrite epoch, its own payload type
    /// mapping and `layer`. False if it was bound there already.
    pub(crate) fn rebind(
        &mut self,
        pk: PeerKey,
        di: usize,
        source: Option<(PeerKey, usize)>,
        layer: LayerChoice,
    ) -> bool {
        let Some(old) = self.peers[pk].as_ref().and_then(|p| p.down.get(di)?.as_ref()).map(|d| d.source)
        else {
            return false;
        };
        if old == source {
            return false;
        }
        if let Some((owner, ui)) = old {
            if let Some(up) = self.peer_mut(owner).and_then(|o| o.up.get_mut(ui)).and_then(Option::as_mut) {
                up.subscribers.retain(|s| !(s.peer == pk && s.down == di));
            }
        }
        if let Some(down) = self.peer_mut(pk).and_then(|p| p.down.get_mut(di)).and_then(Option::as_mut) {
            down.source = source;
            down.rewriter.switch_source();
            down.pt_map.clear();
            down.layer = layer;
        }
        if let Some((owner, ui)) = source {
            if let Some(up) = self.peer_mut(owner).and_then(|o| o.up.get_mut(ui)).and_then(Option::as_mut) {
                up.subscribers.push(Subscriber { peer: pk, down: di });
            }
        }
        true
    }
}
