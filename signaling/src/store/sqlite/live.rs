//! Live meetings' carried state and heartbeats (migration 9, issue 14), and
//! the attendance intervals a crash left open.

use rusqlite::{params, Connection, OptionalExtension};

use crate::store::StoreError;

pub(super) fn save(conn: &Connection, meeting: &str, state: &str, at: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO live_meetings (meeting, state, saved_at, heartbeat) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (meeting) DO UPDATE SET state = ?2, saved_at = ?3, heartbeat = MAX(heartbeat, ?3)",
        params![meeting, state, at],
    )?;
    Ok(())
}

pub(super) fn heartbeat(conn: &Connection, meeting: &str, at: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE live_meetings SET heartbeat = MAX(heartbeat, ?2) WHERE meeting = ?1",
        params![meeting, at],
    )?;
    Ok(())
}

pub(super) fn load(conn: &Connection, meeting: &str) -> Result<Option<(String, i64)>, StoreError> {
    Ok(conn
        .query_row("SELECT state, heartbeat FROM live_meetings WHERE meeting = ?1", [meeting], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?)
}

pub(super) fn forget(conn: &Connection, meeting: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM live_meetings WHERE meeting = ?1", [meeting])?;
    Ok(())
}

/// Every participant whose last attendance event is a join gets a leave
/// (`reason`) at its meeting's last heartbeat, or at the join itself when
/// the meeting left no heartbeat: no running server means nobody is
/// present, and presence is never claimed beyond the last proof of it.
pub(super) fn close_open(conn: &mut Connection, reason: &str) -> Result<usize, StoreError> {
    let tx = conn.transaction()?;
    let open: Vec<(String, String, String, i64, Option<i64>)> = {
        let mut stmt = tx.prepare(
            "SELECT e.meeting, e.participant, e.name, e.at, l.heartbeat
               FROM attendance_events e
               LEFT JOIN live_meetings l ON l.meeting = e.meeting
              WHERE e.event = 'join'
                AND e.seq = (SELECT MAX(seq) FROM attendance_events x
                              WHERE x.meeting = e.meeting AND x.participant = e.participant)",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (meeting, participant, name, joined, heartbeat) in &open {
        let at = heartbeat.map_or(*joined, |h| h.max(*joined));
        tx.execute(
            "INSERT INTO attendance_events (meeting, participant, name, event, at, reason)
             VALUES (?1, ?2, ?3, 'leave', ?4, ?5)",
            params![meeting, participant, name, at, reason],
        )?;
    }
    tx.commit()?;
    Ok(open.len())
}
