//! Audio top-N (issue 15): in a large meeting only the few voices that are
//! speaking are forwarded, so a training session with ten open microphones
//! costs what three cost.
//!
//! Each room holds N *slots*. A microphone that holds one is forwarded, every
//! packet, silence included (a speaker's pauses are not cut). A microphone
//! without one is forwarded only when it takes one, at its first voiced
//! packet (RFC 6464 level at or above the speaking threshold):
//! - a free slot, or one whose holder has not spoken for [`HANGOVER`], is
//!   taken at once, so a speech onset is not clipped;
//! - when every holder spoke within the hangover, a voice louder than the
//!   quietest holder's speech by [`BARGE_IN_DB`] (smoothed levels of voiced
//!   packets) takes its slot.
//!
//! Its silent packets are dropped. The floor holder, the chair and the
//! broadcast source are always heard and take no slot (the caller decides).
//! A microphone that gains a slot resumes for each subscriber without a gap
//! in its numbers (the caller starts a new rewrite epoch).

use std::time::{Duration, Instant};

use crate::core::engine::Engine;
use crate::core::ids::{PeerId, RoomId, TrackId};
use crate::core::peer::PeerKey;

/// A slot's holder keeps it this long after its last voiced packet, against
/// a newcomer that is not clearly louder.
pub(crate) const HANGOVER: Duration = Duration::from_millis(1500);
/// How much louder (dB, smoothed) a newcomer must be to take a slot whose
/// holder is still speaking.
const BARGE_IN_DB: f32 = 6.0;
/// Quieter than this (dBov) is not speech.
const VOICED_DBOV: i8 = -50;
/// Smoothing of levels: the weight of each new 20 ms packet.
const SMOOTHING: f32 = 0.2;

/// Lines kept for always-heard publishers (the chair, the floor holder)
/// besides the N of the others: a listener with voice lines has N + this.
pub(crate) const PINNED_LINES: usize = 2;

/// What to do with an audio packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Forward it (the track holds a slot).
    Forward,
    /// Forward it: the track has just taken slot `line`, from `replaced`
    /// if another held it (its subscribers' numbering starts a new epoch;
    /// voice lines of that index now carry it).
    Resume { line: usize, replaced: Option<TrackId> },
    /// Drop it: the track holds no slot.
    Drop,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    track: TrackId,
    /// Smoothed level of its voiced packets, dBov.
    level: f32,
    last_voice: Instant,
    /// Held for an always-heard publisher: never taken by another voice.
    pinned: bool,
}

/// One room's slots, by index: slot `i` is what voice line `i` of every
/// listener that has voice lines carries.
#[derive(Debug, Default)]
pub(crate) struct AudioSlots {
    slots: Vec<Option<Slot>>,
}

impl AudioSlots {
    /// Decides for one packet of `track` with RFC 6464 `level` (dBov, `None`
    /// when the packet carries none) in a room of `n` slots for voices, and
    /// [`PINNED_LINES`] more for `pinned` (always-heard) tracks, which take
    /// one at their first packet, voiced or not.
    pub(crate) fn admit(
        &mut self,
        now: Instant,
        track: TrackId,
        level: Option<i8>,
        n: usize,
        pinned: bool,
    ) -> Admit {
        let voiced = level.is_some_and(|l| l >= VOICED_DBOV);
        let db = f32::from(level.unwrap_or(-127));
        if self.slots.len() != n + PINNED_LINES {
            self.slots.resize(n + PINNED_LINES, None);
        }
        if let Some(s) = self.slots.iter_mut().flatten().find(|s| s.track == track) {
            // The level of its speech: a pause does not make it quieter.
            if voiced {
                s.level += SMOOTHING * (db - s.level);
                s.last_voice = now;
            }
            s.pinned = pinned;
            return Admit::Forward;
        }
        if n == 0 || !(voiced || pinned) {
            return Admit::Drop;
        }
        let fresh = Slot { track, level: db, last_voice: now, pinned };
        let free = self.slots.iter().position(Option::is_none);
        let voices = self.slots.iter().flatten().filter(|s| !s.pinned).count();
        let line = match free {
            Some(i) if pinned || voices < n => Some(i),
            _ => self.victim(now, db, pinned),
        };
        match line {
            Some(i) => {
                let replaced = self.slots[i].map(|s| s.track);
                self.slots[i] = Some(fresh);
                Admit::Resume { line: i, replaced }
            }
            None => Admit::Drop,
        }
    }

    /// The voice a newcomer at `db` takes the slot of: the one silent
    /// longest, if past its hangover; else the quietest, if the newcomer is
    /// clearly louder. A pinned newcomer takes the one silent longest. A
    /// pinned holder is never taken.
    fn victim(&self, now: Instant, db: f32, pinned: bool) -> Option<usize> {
        let voices =
            || self.slots.iter().enumerate().filter_map(|(i, s)| Some((i, (*s)?))).filter(|(_, s)| !s.pinned);
        let stale = voices()
            .filter(|(_, s)| pinned || now.saturating_duration_since(s.last_voice) >= HANGOVER)
            .min_by_key(|(_, s)| s.last_voice)
            .map(|(i, _)| i);
        stale.or_else(|| {
            voices()
                .min_by(|(_, a), (_, b)| a.level.total_cmp(&b.level))
                .filter(|(_, s)| db >= s.level + BARGE_IN_DB)
                .map(|(i, _)| i)
        })
    }

    /// The track no longer exists (unpublished, its peer left): the slot it
    /// held, now free.
    pub(crate) fn remove(&mut self, track: TrackId) -> Option<usize> {
        let i = self.slots.iter().position(|s| s.is_some_and(|s| s.track == track))?;
        self.slots[i] = None;
        Some(i)
    }

    /// The track holding slot `line`.
    pub(crate) fn holder(&self, line: usize) -> Option<TrackId> {
        self.slots.get(line).copied().flatten().map(|s| s.track)
    }

    /// The tracks holding a slot.
    #[cfg(test)]
    pub(crate) fn holders(&self) -> Vec<TrackId> {
        self.slots.iter().flatten().map(|s| s.track).collect()
    }
}

impl Engine {
    /// Whether an audio packet of up track `ui` of publisher `pk` is
    /// forwarded: always in a room smaller than `audio_top_n_min_peers` (and
    /// without voice lines); else only while the track holds one of the
    /// room's slots, which the room's always-heard publishers take first.
    pub(crate) fn audio_admitted(&mut self, now: Instant, pk: PeerKey, ui: usize, level: Option<i8>) -> bool {
        let n = self.cfg.audio_top_n;
        let Some((room, publisher, track)) =
            self.peers[pk].as_ref().and_then(|p| Some((p.room, p.id, p.up.get(ui)?.as_ref()?.id)))
        else {
            return false;
        };
        let min_peers = self.cfg.audio_top_n_min_peers;
        let Some(r) = self.rooms.get_mut(&room) else { return true };
        // Once listeners have voice lines, the slots decide what they hear
        // whatever the room's size.
        if n == 0 || (!r.large(min_peers) && r.voice_peers.is_empty()) {
            return true;
        }
        let always = r.always_heard(publisher);
        match r.audio_slots.admit(now, track, level, n, always) {
            Admit::Forward => true,
            Admit::Drop if always => true,
            Admit::Drop => {
                self.counters.audio_unselected += 1;
                false
            }
            Admit::Resume { line, .. } => {
                self.resume_track(pk, ui);
                self.bind_voice_line(room, line, Some((pk, ui)));
                true
            }
        }
    }

    /// Each subscriber of an up track continues it without a gap in its
    /// numbers, after packets of it were dropped.
    pub(crate) fn resume_track(&mut self, pk: PeerKey, ui: usize) {
        let subscribers =
            self.peers[pk].as_ref().and_then(|p| p.up.get(ui)?.as_ref()).map(|u| u.subscribers.clone());
        for s in subscribers.unwrap_or_default() {
            if let Some(d) =
                self.peer_mut(s.peer).and_then(|p| p.down.get_mut(s.down)).and_then(Option::as_mut)
            {
                d.rewriter.switch_source();
            }
        }
    }

    /// Publishers heard in a large room whatever the others say (the chair,
    /// besides the featured ones: the floor holder, the broadcast source).
    pub fn set_always_heard(&mut self, room: RoomId, peers: Vec<PeerId>) -> Result<(), crate::SfuError> {
        let r = self.rooms.get_mut(&room).ok_or(crate::SfuError::RoomNotFound(room))?;
        r.always_heard = peers;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS20: Duration = Duration::from_millis(20);

    #[test]
    fn the_first_voices_take_the_slots_and_silence_is_dropped() {
        let (mut a, t0) = (AudioSlots::default(), Instant::now());
        assert_eq!(a.admit(t0, TrackId(9), Some(-90), 3, false), Admit::Drop, "an open, silent microphone");
        assert_eq!(a.admit(t0, TrackId(9), None, 3, false), Admit::Drop, "no level: not speech");
        for t in 1..=3 {
            let line = (t - 1) as usize;
            assert_eq!(
                a.admit(t0, TrackId(t), Some(-30), 3, false),
                Admit::Resume { line, replaced: None },
                "onset {t} not clipped"
            );
        }
        assert_eq!(a.admit(t0, TrackId(4), Some(-30), 3, false), Admit::Drop, "a fourth voice as loud waits");
        assert_eq!(
            a.admit(t0 + MS20, TrackId(1), Some(-100), 3, false),
            Admit::Forward,
            "a holder's pause goes on"
        );
        assert_eq!(a.holders(), vec![TrackId(1), TrackId(2), TrackId(3)]);
    }

    #[test]
    fn a_slot_passes_on_after_the_hangover_to_the_next_voice_at_its_first_packet() {
        let (mut a, t0) = (AudioSlots::default(), Instant::now());
        for t in 1..=3 {
            a.admit(t0, TrackId(t), Some(-30), 3, false);
        }
        // 2 and 3 go on speaking; 1 falls silent.
        let mut now = t0;
        while now < t0 + HANGOVER {
            now += MS20;
            a.admit(now, TrackId(1), Some(-100), 3, false);
            a.admit(now, TrackId(2), Some(-30), 3, false);
            a.admit(now, TrackId(3), Some(-30), 3, false);
            if now < t0 + HANGOVER {
                assert_eq!(
                    a.admit(now, TrackId(4), Some(-30), 3, false),
                    Admit::Drop,
                    "1 is still in its hangover"
                );
            }
        }
        assert_eq!(
            a.admit(now + MS20, TrackId(4), Some(-30), 3, false),
            Admit::Resume { line: 0, replaced: Some(TrackId(1)) },
            "4 takes 1's slot, and its voice lines"
        );
        assert_eq!(a.holders(), vec![TrackId(4), TrackId(2), TrackId(3)]);
        assert_eq!(a.admit(now + MS20, TrackId(1), Some(-100), 3, false), Admit::Drop, "1 lost its slot");
    }

    #[test]
    fn a_clearly_louder_voice_barges_in_on_the_quietest_speaker() {
        let (mut a, t0) = (AudioSlots::default(), Instant::now());
        let mut now = t0;
        for _ in 0..20 {
            now += MS20;
            a.admit(now, TrackId(1), Some(-20), 2, false);
            a.admit(now, TrackId(2), Some(-45), 2, false);
        }
        assert_eq!(a.admit(now, TrackId(3), Some(-42), 2, false), Admit::Drop, "3 dB louder is not enough");
        assert_eq!(
            a.admit(now, TrackId(3), Some(-30), 2, false),
            Admit::Resume { line: 1, replaced: Some(TrackId(2)) },
            "15 dB louder takes the slot"
        );
        assert_eq!(a.holders(), vec![TrackId(1), TrackId(3)]);
    }

    #[test]
    fn a_removed_track_frees_its_slot() {
        let (mut a, t0) = (AudioSlots::default(), Instant::now());
        a.admit(t0, TrackId(1), Some(-30), 1, false);
        assert_eq!(a.admit(t0, TrackId(2), Some(-30), 1, false), Admit::Drop);
        a.remove(TrackId(1));
        assert_eq!(a.admit(t0, TrackId(2), Some(-30), 1, false), Admit::Resume { line: 0, replaced: None });
    }

    #[test]
    fn always_heard_tracks_take_their_own_lines_at_once_and_keep_them() {
        let (mut a, t0) = (AudioSlots::default(), Instant::now());
        for t in 1..=3 {
            a.admit(t0, TrackId(t), Some(-30), 3, false);
        }
        // The chair's first packet, silence: a line of its own.
        assert_eq!(a.admit(t0, TrackId(10), Some(-127), 3, true), Admit::Resume { line: 3, replaced: None });
        assert_eq!(a.admit(t0, TrackId(11), None, 3, true), Admit::Resume { line: 4, replaced: None });
        // Voices never take a pinned line, even long silent.
        let later = t0 + HANGOVER * 4;
        assert_eq!(
            a.admit(later, TrackId(4), Some(-30), 3, false),
            Admit::Resume { line: 0, replaced: Some(TrackId(1)) }
        );
        assert_eq!(a.holder(3), Some(TrackId(10)));
        assert_eq!(a.holder(4), Some(TrackId(11)));
        // A third always-heard track takes the voice silent longest, at once.
        assert_eq!(
            a.admit(later, TrackId(12), Some(-127), 3, true),
            Admit::Resume { line: 1, replaced: Some(TrackId(2)) }
        );
        // A freed line goes to the next voice.
        assert_eq!(a.remove(TrackId(10)), Some(3));
        assert_eq!(
            a.admit(later, TrackId(5), Some(-30), 3, false),
            Admit::Resume { line: 3, replaced: None },
            "two voices (4, 3) and a free line"
        );
        assert_eq!(
            a.admit(later, TrackId(6), Some(-30), 3, false),
            Admit::Resume { line: 2, replaced: Some(TrackId(3)) },
            "3 is past its hangover"
        );
        assert_eq!(
            a.admit(later, TrackId(7), Some(-30), 3, false),
            Admit::Drop,
            "three voices within their hangover"
        );
        assert_eq!(
            a.admit(later + MS20, TrackId(13), Some(-127), 3, true),
            Admit::Resume { line: 0, replaced: Some(TrackId(4)) },
            "a pinned newcomer with no line free takes a voice, hangover or not"
        );
    }
}
