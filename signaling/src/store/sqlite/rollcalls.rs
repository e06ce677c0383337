//! Roll calls: one row per roll call, one per called participant.

use rusqlite::{params, Connection};

use crate::store::{RollCallLine, RollCallRecord, StoreError};

pub(super) fn insert(conn: &mut Connection, rc: &RollCallRecord) -> Result<(), StoreError> {
    let tx = conn.savepoint()?;
    tx.execute(
        "INSERT INTO roll_calls (meeting, title, started_at_ms, auto) VALUES (?1, ?2, ?3, ?4)",
        params![rc.meeting, rc.title, rc.started_at_ms, rc.auto],
    )?;
    let id = tx.last_insert_rowid();
    for (seq, e) in rc.entries.iter().enumerate() {
        tx.execute(
            "INSERT INTO roll_call_entries (roll_call, seq, participant, name, status, called_at_ms, answered_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id, seq as i64, e.participant, e.name, e.status, e.called_at_ms, e.answered_at_ms],
        )?;
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn of_meeting(conn: &Connection, meeting: &str) -> Result<Vec<RollCallRecord>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, title, started_at_ms, auto FROM roll_calls WHERE meeting = ?1 ORDER BY started_at_ms, id",
    )?;
    let heads = stmt
        .query_map([meeting], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, bool>(3)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut lines = conn.prepare(
        "SELECT participant, name, status, called_at_ms, answered_at_ms FROM roll_call_entries
         WHERE roll_call = ?1 ORDER BY seq",
    )?;
    let mut out = Vec::with_capacity(heads.len());
    for (id, title, started_at_ms, auto) in heads {
        let entries = lines
            .query_map([id], |r| {
                Ok(RollCallLine {
                    participant: r.get(0)?,
                    name: r.get(1)?,
                    status: r.get(2)?,
                    called_at_ms: r.get(3)?,
                    answered_at_ms: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        out.push(RollCallRecord { meeting: meeting.to_string(), title, started_at_ms, auto, entries });
    }
    Ok(out)
}
