//! Meetings: reading one with its participants, writing its participants,
//! the checks before a write.

use rusqlite::{params, Connection, OptionalExtension};

use super::parse_time;
use crate::store::{MeetingRecord, StoreError};

pub(super) fn load_meeting(conn: &Connection, id: &str) -> Result<MeetingRecord, StoreError> {
    let row = conn
        .query_row(
            "SELECT id, title, agenda, start_local, end_local, chair, open_before_min, version, series, CAST(started_at AS INTEGER), CAST(ended_at AS INTEGER), cancelled_at, record FROM meetings WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    [r.get::<_, Option<i64>>(9)?, r.get::<_, Option<i64>>(10)?, r.get::<_, Option<i64>>(11)?],
                    r.get::<_, bool>(12)?,
                ))
            },
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("meeting {id}")))?;
    let mut stmt =
        conn.prepare("SELECT org_unit FROM meeting_participants WHERE meeting = ?1 ORDER BY org_unit")?;
    let participants = stmt.query_map([id], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
    Ok(MeetingRecord {
        id: row.0,
        title: row.1,
        agenda: row.2,
        start: parse_time(&row.3)?,
        end: parse_time(&row.4)?,
        chair: row.5,
        open_before_min: row.6,
        participants,
        version: row.7,
        series: row.8,
        started_at: row.9[0],
        ended_at: row.9[1],
        cancelled_at: row.9[2],
        record: row.10,
    })
}

pub(super) fn write_participants(tx: &Connection, meeting: &MeetingRecord) -> Result<(), StoreError> {
    tx.execute("DELETE FROM meeting_participants WHERE meeting = ?1", [&meeting.id])?;
    for p in &meeting.participants {
        tx.execute(
            "INSERT INTO meeting_participants (meeting, org_unit) VALUES (?1, ?2)",
            params![meeting.id, p],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
            {
                StoreError::Invalid(format!("unknown venue or person {p:?}"))
            }
            other => other.into(),
        })?;
    }
    Ok(())
}

pub(super) fn check_meeting(m: &MeetingRecord) -> Result<(), StoreError> {
    if m.title.trim().is_empty() {
        return Err(StoreError::Invalid("the title is empty".into()));
    }
    if m.end <= m.start {
        return Err(StoreError::Invalid("the meeting must end after it starts".into()));
    }
    Ok(())
}
