//! A flush's datagrams grouped by destination, for segmented sends.
//!
//! A forwarded packet released in the forwarding call (ADR 0020) goes into
//! the worker's outgoing batch at once, packet by packet across the
//! subscribers: p1→A, p1→B, p2→A, p2→B. A segmented send (GSO) needs each
//! destination's datagrams in a row, as the subscriber's own pass used to
//! release them. [`Grouper::group`] reorders the batch so each
//! destination's datagrams follow one another, in their order, the
//! destinations in the order of their first datagram (nothing waits for
//! longer than the flush it is in). It allocates only when a batch is larger
//! than any before it.

use std::net::SocketAddr;

use rustc_hash::FxHashMap;

/// Scratch space kept across flushes.
#[derive(Debug, Default)]
pub(crate) struct Grouper {
    // (Fx: a lookup per datagram of every flush. A flush holds at most a
    // few thousand datagrams, and each peer has one address, so keys made
    // to collide could not cost much.)
    rank: FxHashMap<SocketAddr, u32>,
    keyed: Vec<(u32, u32)>,
}

impl Grouper {
    /// Groups `items` by `destination` (stable within a destination).
    /// A batch already grouped is left as it is, with no moves.
    pub(crate) fn group<T>(&mut self, items: &mut [T], destination: impl Fn(&T) -> SocketAddr) {
        if items.len() < 3 {
            return;
        }
        self.rank.clear();
        self.keyed.clear();
        let mut grouped = true;
        let mut last = u32::MAX;
        for (i, item) in items.iter().enumerate() {
            let fresh = self.rank.len() as u32;
            let rank = *self.rank.entry(destination(item)).or_insert(fresh);
            // Back to a destination seen before another one: not grouped.
            if rank != last && rank != fresh {
                grouped = false;
            }
            last = rank;
            self.keyed.push((rank, i as u32));
        }
        if grouped {
            return;
        }
        // (rank, index) pairs are distinct, so an unstable sort keeps each
        // destination's order.
        self.keyed.sort_unstable();
        // Apply the permutation in place by following its cycles: position
        // `to` takes the item at `keyed[to].1`.
        for start in 0..self.keyed.len() {
            let mut to = start;
            loop {
                let from = self.keyed[to].1 as usize;
                self.keyed[to].1 = to as u32; // done
                if from == start {
                    break;
                }
                items.swap(to, from);
                to = from;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 10_000 + n))
    }

    fn grouped(input: &[(u16, u32)]) -> Vec<(u16, u32)> {
        let mut items: Vec<(u16, u32)> = input.to_vec();
        Grouper::default().group(&mut items, |(d, _)| addr(*d));
        items
    }

    #[test]
    fn each_destination_in_a_row_in_its_order_destinations_by_first_datagram() {
        // Packets 1–3 of a frame to subscribers A (1), B (2), C (3), packet by packet.
        let input = [(1, 1), (2, 1), (3, 1), (1, 2), (2, 2), (3, 2), (1, 3), (2, 3), (3, 3)];
        let expected = [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3), (3, 1), (3, 2), (3, 3)];
        assert_eq!(grouped(&input), expected);
    }

    #[test]
    fn an_irregular_batch_keeps_every_datagram_once() {
        let input = [(5, 1), (7, 1), (5, 2), (9, 1), (7, 2), (7, 3), (5, 3), (9, 2), (1, 1), (5, 4)];
        let out = grouped(&input);
        assert_eq!(out, [(5, 1), (5, 2), (5, 3), (5, 4), (7, 1), (7, 2), (7, 3), (9, 1), (9, 2), (1, 1)]);
    }

    #[test]
    fn a_grouped_batch_is_left_alone() {
        let input = [(4, 1), (4, 2), (2, 1), (2, 2), (2, 3), (8, 1)];
        assert_eq!(grouped(&input), input);
        // And a scratch reused across batches forgets the previous one.
        let mut g = Grouper::default();
        let mut a = vec![(1u16, 1u32), (2, 1), (1, 2)];
        g.group(&mut a, |(d, _)| addr(*d));
        let mut b = vec![(2u16, 1u32), (1, 1), (2, 2)];
        g.group(&mut b, |(d, _)| addr(*d));
        assert_eq!((a, b), (vec![(1, 1), (1, 2), (2, 1)], vec![(2, 1), (2, 2), (1, 1)]));
    }
}
