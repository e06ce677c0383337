//! When each peer next needs the engine: a timer heap, and a list of peers
//! that are due at once.
//!
//! A peer needs a timeout pass when its str0m `Rtc` says so (a report, a
//! retransmission timer, the pacer) or when one of its tracks holds back a
//! keyframe request. Scanning every peer for that on each loop turn costs
//! O(peers) per turn whether or not anything is due; here a turn costs
//! what is due.
//!
//! - A peer that is due at once (a forwarded packet was written to it and
//!   waits for release) goes on the `ready` list: O(1), no heap operation.
//!   That is the common case, once per subscriber and frame.
//! - A later time goes on the heap only if it is earlier than the entry the
//!   peer already has there. Entries are wake-up hints: one may be earlier
//!   than the peer's real deadline (the deadline moved later), never later.
//!   The engine checks the peer's deadline when the hint fires and arms
//!   again if it is not due; str0m's timers move later far less often than
//!   packets are written, so the heap stays small. No hint is set more than
//!   a second ahead, so every entry, stale or not, leaves within a second.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use crate::core::peer::PeerKey;

/// The furthest ahead a hint is set: a peer whose deadline is later is
/// looked at (and armed again) once a second. It bounds the heap: every
/// entry leaves it within this time, stale ones (a peer that left, a
/// duplicate of a time armed again) included.
const MAX_HINT: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, PeerKey)>>,
    /// Per peer key: the time of its entry on the heap, if it has one.
    armed: Vec<Option<Instant>>,
    /// Peers due at once, and whether each is on that list.
    ready: Vec<PeerKey>,
    listed: Vec<bool>,
    /// The latest time the engine was given: a deadline at or before it is
    /// due at once.
    now: Option<Instant>,
}

impl Timers {
    /// The engine was given `now`.
    pub fn advance(&mut self, now: Instant) {
        self.now = Some(self.now.map_or(now, |n| n.max(now)));
    }

    /// Peer `pk` must be visited at `at` (or earlier).
    pub fn schedule(&mut self, pk: PeerKey, at: Instant) {
        if self.armed.len() <= pk {
            self.armed.resize(pk + 1, None);
            self.listed.resize(pk + 1, false);
        }
        if self.now.is_some_and(|now| at <= now) {
            if !self.listed[pk] {
                self.listed[pk] = true;
                self.ready.push(pk);
            }
            return;
        }
        let at = self.now.map_or(at, |now| at.min(now + MAX_HINT));
        if self.armed[pk].is_some_and(|t| t <= at) {
            return; // an earlier hint will fire and look again
        }
        self.armed[pk] = Some(at);
        self.heap.push(Reverse((at, pk)));
    }

    /// The peer left: its entries are dropped (a listing that remains finds
    /// no peer, or a new one, which the engine checks).
    pub fn forget(&mut self, pk: PeerKey) {
        if let Some(a) = self.armed.get_mut(pk) {
            *a = None;
        }
        self.drop_stale_top();
    }

    /// Moves every peer whose visit is due by `now` into `out` (each once).
    pub fn take_due(&mut self, now: Instant, out: &mut Vec<PeerKey>) {
        self.advance(now);
        let start = out.len();
        out.append(&mut self.ready); // still listed: not taken twice below
        while let Some(&Reverse((at, pk))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            if self.armed[pk] == Some(at) {
                self.armed[pk] = None;
                if !self.listed[pk] {
                    self.listed[pk] = true;
                    out.push(pk);
                }
            }
        }
        for &pk in &out[start..] {
            self.listed[pk] = false;
        }
        // Entries whose peer has an earlier one again, or left, are dropped
        // when they reach the top; keep the top honest for `next`.
        self.drop_stale_top();
    }

    /// The earliest visit due, if any (`now` when a peer is ready).
    pub fn next(&self) -> Option<Instant> {
        if !self.ready.is_empty() {
            return self.now;
        }
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    fn drop_stale_top(&mut self) {
        while let Some(&Reverse((at, pk))) = self.heap.peek() {
            if self.armed[pk] == Some(at) {
                break;
            }
            self.heap.pop();
        }
    }

    /// Entries on the heap (stale ones included).
    #[cfg(test)]
    pub fn heap_len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Timers given their first time, and that time.
    fn started() -> (Instant, Timers) {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.advance(t0);
        (t0, t)
    }

    fn due(t: &mut Timers, now: Instant) -> Vec<PeerKey> {
        let mut out = Vec::new();
        t.take_due(now, &mut out);
        out.sort_unstable();
        out
    }

    #[test]
    fn a_peer_is_visited_when_its_time_comes_and_not_before() {
        let (t0, mut t) = started();
        t.schedule(0, t0 + ms(20));
        t.schedule(1, t0 + ms(50));
        assert_eq!(t.next(), Some(t0 + ms(20)));
        assert_eq!(due(&mut t, t0 + ms(10)), Vec::<PeerKey>::new());
        assert_eq!(due(&mut t, t0 + ms(20)), vec![0]);
        assert_eq!(t.next(), Some(t0 + ms(50)));
        assert_eq!(due(&mut t, t0 + ms(60)), vec![1]);
        assert_eq!(t.next(), None);
    }

    #[test]
    fn a_peer_due_at_once_is_listed_once_and_touches_no_heap() {
        let (t0, mut t) = started();
        t.schedule(3, t0 + ms(20));
        for _ in 0..100 {
            t.schedule(3, t0); // a packet written: due now
            t.schedule(3, t0 + ms(20)); // its timer again after the release
        }
        assert_eq!(t.heap_len(), 1);
        assert_eq!(t.next(), Some(t0));
        assert_eq!(due(&mut t, t0), vec![3]);
        assert_eq!(due(&mut t, t0), Vec::<PeerKey>::new());
        assert_eq!(due(&mut t, t0 + ms(20)), vec![3]);
    }

    #[test]
    fn an_earlier_time_replaces_the_hint_and_a_later_one_keeps_it() {
        let (t0, mut t) = started();
        t.schedule(0, t0 + ms(50));
        t.schedule(0, t0 + ms(30)); // earlier: a new entry
        t.schedule(0, t0 + ms(80)); // later: the 30 ms hint stays
        assert_eq!(t.next(), Some(t0 + ms(30)));
        assert_eq!(due(&mut t, t0 + ms(30)), vec![0]);
        // The 50 ms entry is stale: dropped, not a visit.
        assert_eq!(t.next(), None);
        assert_eq!(due(&mut t, t0 + ms(60)), Vec::<PeerKey>::new());
    }

    #[test]
    fn a_peer_both_ready_and_due_on_the_heap_is_visited_once() {
        let (t0, mut t) = started();
        t.schedule(4, t0 + ms(5)); // the pacer's next release
        t.advance(t0 + ms(5));
        t.schedule(4, t0 + ms(5)); // a packet written at that moment
        assert_eq!(due(&mut t, t0 + ms(5)), vec![4]);
        assert_eq!(t.next(), None);
    }

    #[test]
    fn a_far_deadline_is_looked_at_within_a_second_and_leaves_nothing_behind() {
        let (t0, mut t) = started();
        t.schedule(0, t0 + Duration::from_secs(3600)); // nothing planned
        assert_eq!(t.next(), Some(t0 + MAX_HINT));
        t.schedule(0, t0 + ms(20)); // then something is
        t.forget(0); // and the peer leaves
        assert_eq!(t.heap_len(), 0);
        // Many re-arms of one time leave at most a second of entries.
        for i in 0..100u32 {
            let now = t0 + ms(u64::from(i) * 10);
            due(&mut t, now);
            t.schedule(1, now + ms(5));
        }
        assert!(t.heap_len() <= 2, "{}", t.heap_len());
    }

    #[test]
    fn a_forgotten_peer_is_not_visited() {
        let (t0, mut t) = started();
        t.schedule(2, t0 + ms(10));
        t.forget(2);
        assert_eq!(t.next(), None);
        assert_eq!(due(&mut t, t0 + ms(10)), Vec::<PeerKey>::new());
    }
}
