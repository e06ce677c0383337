//! Where each room and each peer lives (ADR 0018): plain bookkeeping for
//! [`SfuHandle`](crate::SfuHandle), which sends the commands it decides.
//!
//! A room is opened on the worker with the fewest rooms (its *home*) and
//! takes its first `spread_after` peers there; later peers go to the worker
//! with the fewest peers (the home on a tie), which then holds a shard of
//! the room. A peer stays where it joined until it leaves.

use std::collections::HashMap;

use crate::core::events::SfuError;
use crate::core::ids::{PeerId, RoomId};

/// Every room's and peer's worker.
#[derive(Default)]
pub(crate) struct Placement {
    rooms: HashMap<RoomId, RoomPlace>,
    /// Each peer's room and worker.
    peers: HashMap<PeerId, (RoomId, usize)>,
}

/// The workers that hold a part of a room.
struct RoomPlace {
    /// Where it was opened; it holds the room's first peers.
    home: usize,
    /// Every worker with a part of it, its home first.
    workers: Vec<usize>,
}

/// Where a joining peer goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Placed {
    pub worker: usize,
    /// A shard of the room opens on `worker`: every worker that then holds
    /// a part of the room (`worker` last), to be told in that order.
    pub new_shard: Option<Vec<usize>>,
    /// The room's peers on its other workers (0 while it has one).
    pub elsewhere: usize,
}

impl Placement {
    /// Opens `room` on the worker (of `workers`) that is home to the fewest rooms.
    pub fn open_room(&mut self, room: RoomId, workers: usize) -> Result<usize, SfuError> {
        if self.rooms.contains_key(&room) {
            return Err(SfuError::RoomExists(room));
        }
        let mut homes = vec![0usize; workers];
        for r in self.rooms.values() {
            homes[r.home] += 1;
        }
        let home = (0..workers).min_by_key(|w| homes[*w]).ok_or(SfuError::WorkerGone)?;
        self.rooms.insert(room, RoomPlace { home, workers: vec![home] });
        Ok(home)
    }

    /// Places a peer joining `room`: its home until that holds
    /// `spread_after` of the room's peers (0: always), then the worker with
    /// the fewest peers. A peer already placed in the room stays put.
    pub fn place(
        &mut self,
        room: RoomId,
        peer: PeerId,
        workers: usize,
        spread_after: usize,
    ) -> Result<Placed, SfuError> {
        let place = self.rooms.get(&room).ok_or(SfuError::RoomNotFound(room))?;
        if let Some((r, w)) = self.peers.get(&peer) {
            if *r == room {
                return Ok(Placed { worker: *w, new_shard: None, elsewhere: 0 });
                // (the worker says it exists)
            }
        }
        let home = place.home;
        let mut worker = home;
        if spread_after > 0 && workers > 1 {
            let on_home = self.peers.values().filter(|(r, w)| *r == room && *w == home).count();
            if on_home >= spread_after {
                let mut load = vec![0usize; workers];
                for (_, w) in self.peers.values() {
                    load[*w] += 1;
                }
                worker = (0..workers).min_by_key(|w| (load[*w], *w != home)).unwrap_or(home);
            }
        }
        let place = self.rooms.get_mut(&room).expect("checked");
        let new_shard = (!place.workers.contains(&worker)).then(|| {
            place.workers.push(worker);
            place.workers.clone()
        });
        let elsewhere = self.peers.values().filter(|(r, w)| *r == room && *w != worker).count();
        self.peers.insert(peer, (room, worker));
        Ok(Placed { worker, new_shard, elsewhere })
    }

    /// The room's home worker.
    pub fn home(&self, room: RoomId) -> Result<usize, SfuError> {
        self.rooms.get(&room).map(|r| r.home).ok_or(SfuError::RoomNotFound(room))
    }

    /// Every worker with a part of the room, its home first.
    pub fn workers_of(&self, room: RoomId) -> Result<Vec<usize>, SfuError> {
        self.rooms.get(&room).map(|r| r.workers.clone()).ok_or(SfuError::RoomNotFound(room))
    }

    /// The worker a peer of `room` lives on (its home if not placed).
    pub fn worker_of_peer(&self, room: RoomId, peer: PeerId) -> Result<usize, SfuError> {
        let home = self.home(room)?;
        Ok(self.peers.get(&peer).filter(|(r, _)| *r == room).map_or(home, |(_, w)| *w))
    }

    /// A peer left (or never got in): its place is free.
    pub fn forget_peer(&mut self, peer: PeerId) {
        self.peers.remove(&peer);
    }

    /// A room closed: it and its peers' places are free.
    pub fn forget_room(&mut self, room: RoomId) {
        self.rooms.remove(&room);
        self.peers.retain(|_, (r, _)| *r != room);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: RoomId = RoomId(1);

    #[test]
    fn a_room_fills_its_home_then_spreads_to_the_least_busy_worker_once() {
        let mut p = Placement::default();
        let home = p.open_room(ROOM, 2).expect("room");
        for i in 0..3 {
            assert_eq!(
                p.place(ROOM, PeerId(i), 2, 3),
                Ok(Placed { worker: home, new_shard: None, elsewhere: 0 })
            );
        }
        let other = 1 - home;
        // The fourth opens a shard on the other worker; the next ones
        // balance the two, ties going home.
        let shard = Placed { worker: other, new_shard: Some(vec![home, other]), elsewhere: 3 };
        assert_eq!(p.place(ROOM, PeerId(3), 2, 3), Ok(shard), "the three at home are elsewhere for it");
        assert_eq!(p.place(ROOM, PeerId(4), 2, 3).expect("placed").elsewhere, 3);
        assert_eq!(p.place(ROOM, PeerId(5), 2, 3).expect("placed").elsewhere, 3);
        let rest: Vec<usize> =
            (6..9).map(|i| p.place(ROOM, PeerId(i), 2, 3).expect("placed").worker).collect();
        assert_eq!(rest, vec![home, other, home]);
        assert_eq!(p.workers_of(ROOM), Ok(vec![home, other]));
        assert_eq!(p.worker_of_peer(ROOM, PeerId(3)), Ok(other));
        assert_eq!(p.place(ROOM, PeerId(3), 2, 3).expect("again").worker, other, "a placed peer stays put");
    }

    #[test]
    fn without_spreading_or_a_second_worker_a_room_stays_home() {
        let mut p = Placement::default();
        let home = p.open_room(ROOM, 2).expect("room");
        for i in 0..100 {
            assert_eq!(p.place(ROOM, PeerId(i), 2, 0).expect("placed").worker, home);
        }
        let mut q = Placement::default();
        q.open_room(ROOM, 1).expect("room");
        for i in 0..100 {
            assert_eq!(q.place(ROOM, PeerId(i), 1, 2).expect("placed").worker, 0);
        }
    }

    #[test]
    fn departed_peers_free_their_places_and_rooms_go_to_the_least_homed_worker() {
        let mut p = Placement::default();
        let home = p.open_room(ROOM, 2).expect("room");
        assert_eq!(p.open_room(RoomId(2), 2), Ok(1 - home), "the second room goes to the other worker");
        assert_eq!(p.open_room(ROOM, 2), Err(SfuError::RoomExists(ROOM)));
        for i in 0..2 {
            p.place(ROOM, PeerId(i), 2, 2).expect("placed");
        }
        p.forget_peer(PeerId(0));
        // The home holds one of the room's peers again: the next stays home.
        assert_eq!(p.place(ROOM, PeerId(5), 2, 2).expect("placed").worker, home);
        p.forget_room(ROOM);
        assert_eq!(p.worker_of_peer(ROOM, PeerId(1)), Err(SfuError::RoomNotFound(ROOM)));
        assert!(p.place(ROOM, PeerId(9), 2, 2).is_err(), "a closed room takes nobody");
    }
}
