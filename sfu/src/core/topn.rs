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

/// What to do with an audio packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Forward it (the track holds a slot).
    Forward,
    /// Forward it: the track has just taken a slot, after packets of it
    /// were dropped (its subscribers' numbering starts a new epoch).
    Resume,
    /// Drop it: the track holds no slot.
    Drop,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    track: TrackId,
    /// Smoothed level of its voiced packets, dBov.
    level: f32,
    last_voice: Instant,
}

/// One room's slots.
#[derive(Debug, Default)]
pub(crate) struct AudioSlots {
    slots: Vec<Slot>,
}

impl AudioSlots {
    /// Decides for one packet of `track` with RFC 6464 `level` (dBov, `None`
    /// when the packet carries none) in a room of `n` slots.
    pub(crate) fn admit(&mut self, now: Instant, track: TrackId, level: Option<i8>, n: usize) -> Admit {
        let voiced = level.is_some_and(|l| l >= VOICED_DBOV);
        let db = f32::from(level.unwrap_or(-127));
        if let Some(s) = self.slots.iter_mut().find(|s| s.track == track) {
            // The level of its speech: a pause does not make it quieter.
            if voiced {
                s.level += SMOOTHING * (db - s.level);
                s.last_voice = now;
            }
            return Admit::Forward;
        }
        if !voiced || n == 0 {
            return Admit::Drop;
        }
        let fresh = Slot { track, level: db, last_voice: now };
        if self.slots.len() < n {
            self.slots.push(fresh);
            return Admit::Resume;
        }
        self.slots.truncate(n);
        // The holder silent longest, if past its hangover; else the quietest
        // holder, if the newcomer is clearly louder.
        let stale = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| now.saturating_duration_since(s.last_voice) >= HANGOVER)
            .min_by_key(|(_, s)| s.last_voice)
            .map(|(i, _)| i);
        let victim = stale.or_else(|| {
            self.slots
                .iter()
                .enumerate()
                .min_by(|(_, a), (_, b)| a.level.total_cmp(&b.level))
                .filter(|(_, s)| db >= s.level + BARGE_IN_DB)
                .map(|(i, _)| i)
        });
        match victim {
            Some(i) => {
                self.slots[i] = fresh;
                Admit::Resume
            }
            None => Admit::Drop,
        }
    }

    /// The track no longer exists (unpublished, its peer left).
    pub(crate) fn remove(&mut self, track: TrackId) {
        self.slots.retain(|s| s.track != track);
    }

    /// The tracks holding a slot.
    #[cfg(test)]
    pub(crate) fn holders(&self) -> Vec<TrackId> {
        self.slots.iter().map(|s| s.track).collect()
    }
}

impl Engine {
    /// Whether an audio packet of up track `ui` of publisher `pk` is
    /// forwarded: always in a room smaller than `audio_top_n_min_peers`, and
    /// for the room's always-heard publishers; else only while the track
    /// holds one of the room's `audio_top_n` slots.
    pub(crate) fn audio_admitted(&mut self, now: Instant, pk: PeerKey, ui: usize, level: Option<i8>) -> bool {
        let n = self.cfg.audio_top_n;
        let Some((room, publisher, track)) =
            self.peers[pk].as_ref().and_then(|p| Some((p.room, p.id, p.up.get(ui)?.as_ref()?.id)))
        else {
            return false;
        };
        let min_peers = self.cfg.audio_top_n_min_peers;
        let Some(r) = self.rooms.get_mut(&room) else { return true };
        if n == 0 || r.members.len() < min_peers || r.always_heard(publisher) {
            return true;
        }
        match r.audio_slots.admit(now, track, level, n) {
            Admit::Forward => true,
            Admit::Drop => {
                self.counters.audio_unselected += 1;
                false
            }
            Admit::Resume => {
                self.resume_track(pk, ui);
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
        assert_eq!(a.admit(t0, TrackId(9), Some(-90), 3), Admit::Drop, "an open, silent microphone");
        assert_eq!(a.admit(t0, TrackId(9), None, 3), Admit::Drop, "no level: not speech");
        for t in 1..=3 {
            assert_eq!(a.admit(t0, TrackId(t), Some(-30), 3), Admit::Resume, "onset {t} not clipped");
        }
        assert_eq!(a.admit(t0, TrackId(4), Some(-30), 3), Admit::Drop, "a fourth voice as loud waits");
        assert_eq!(a.admit(t0 + MS20, TrackId(1), Some(-100), 3), Admit::Forward, "a holder's pause goes on");
        assert_eq!(a.holders(), vec![TrackId(1), TrackId(2), TrackId(3)]);
    }

    #[test]
    fn a_slot_passes_on_after_the_hangover_to_the_next_voice_at_its_first_packet() {
        let (mut a, t0) = (AudioSlots::default(), Instant::now());
        for t in 1..=3 {
            a.admit(t0, TrackId(t), Some(-30), 3);
        }
        // 2 and 3 go on speaking; 1 falls silent.
        let mut now = t0;
        while now < t0 + HANGOVER {
            now += MS20;
            a.admit(now, TrackId(1), Some(-100), 3);
            a.admit(now, TrackId(2), Some(-30), 3);
            a.admit(now, TrackId(3), Some(-30), 3);
            if now < t0 + HANGOVER {
                assert_eq!(a.admit(now, TrackId(4), Some(-30), 3), Admit::Drop, "1 is still in its hangover");
            }
        }
        assert_eq!(a.admit(now + MS20, TrackId(4), Some(-30), 3), Admit::Resume);
        assert_eq!(a.holders(), vec![TrackId(4), TrackId(2), TrackId(3)]);
        assert_eq!(a.admit(now + MS20, TrackId(1), Some(-100), 3), Admit::Drop, "1 lost its slot");
    }

    #[test]
    fn a_clearly_louder_voice_barges_in_on_the_quietest_speaker() {
        let (mut a, t0) = (AudioSlots::default(), Instant::now());
        let mut now = t0;
        for _ in 0..20 {
            now += MS20;
            a.admit(now, TrackId(1), Some(-20), 2);
            a.admit(now, TrackId(2), Some(-45), 2);
        }
        assert_eq!(a.admit(now, TrackId(3), Some(-42), 2), Admit::Drop, "3 dB louder is not enough");
        assert_eq!(a.admit(now, TrackId(3), Some(-30), 2), Admit::Resume, "15 dB louder takes the slot");
        assert_eq!(a.holders(), vec![TrackId(1), TrackId(3)]);
    }

    #[test]
    fn a_removed_track_frees_its_slot() {
        let (mut a, t0) = (AudioSlots::default(), Instant::now());
        a.admit(t0, TrackId(1), Some(-30), 1);
        assert_eq!(a.admit(t0, TrackId(2), Some(-30), 1), Admit::Drop);
        a.remove(TrackId(1));
        assert_eq!(a.admit(t0, TrackId(2), Some(-30), 1), Admit::Resume);
    }
}
