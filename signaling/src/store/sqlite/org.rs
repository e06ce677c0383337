//! The organisation tree: its integrity beyond foreign keys, moving and
//! retiring units; and the epochs of join links.

use rusqlite::{params, Connection, OptionalExtension};

use crate::store::StoreError;

/// A unit that is its own ancestor (a self-parent or a longer cycle), if
/// the tree has one: the walk up from every unit stops at the root or, on a
/// cycle, when it meets its start again (bounded by the number of units).
pub(super) fn first_cycle(conn: &Connection) -> Result<Option<String>, StoreError> {
    let found = conn
        .query_row(
            "WITH RECURSIVE up(start, at, depth) AS (
                 SELECT id, parent, 1 FROM org_units WHERE parent IS NOT NULL
                 UNION ALL
                 SELECT up.start, o.parent, up.depth + 1 FROM up JOIN org_units o ON o.id = up.at
                 WHERE up.at <> up.start AND o.parent IS NOT NULL
                   AND up.depth <= (SELECT COUNT(*) FROM org_units)
             )
             SELECT start FROM up WHERE at = start ORDER BY start LIMIT 1",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()?;
    Ok(found)
}

/// Gives a unit a new parent and name, in one transaction with the cycle check.
pub(super) fn move_unit(
    conn: &mut Connection,
    id: &str,
    parent: Option<&str>,
    name: &str,
) -> Result<(), StoreError> {
    let tx = conn.savepoint()?;
    if let Some(p) = parent {
        let live: Option<Option<i64>> =
            tx.query_row("SELECT retired_at FROM org_units WHERE id = ?1", [p], |r| r.get(0)).optional()?;
        if !matches!(live, Some(None)) {
            return Err(StoreError::Invalid(format!("unknown organisation unit {p:?}")));
        }
    }
    let n = tx.execute(
        "UPDATE org_units SET parent = ?2, name = ?3 WHERE id = ?1 AND retired_at IS NULL",
        params![id, parent, name.trim()],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("organisation unit {id:?}")));
    }
    if let Some(unit) = first_cycle(&tx)? {
        return Err(StoreError::Invalid(format!(
            "org unit {unit:?} would be its own ancestor (a cycle in the parents)"
        )));
    }
    tx.commit()?;
    Ok(())
}

/// Retires a unit nothing current refers to (see `Store::retire_org_unit`).
pub(super) fn retire(
    conn: &mut Connection,
    id: &str,
    upcoming_after: &str,
    now: i64,
) -> Result<(), StoreError> {
    let tx = conn.savepoint()?;
    let exists: Option<Option<i64>> =
        tx.query_row("SELECT retired_at FROM org_units WHERE id = ?1", [id], |r| r.get(0)).optional()?;
    if !matches!(exists, Some(None)) {
        return Err(StoreError::NotFound(format!("organisation unit {id:?}")));
    }
    let count = |sql: &str| -> Result<i64, StoreError> {
        Ok(tx.query_row(sql, params![id, upcoming_after], |r| r.get(0))?)
    };
    if count("SELECT COUNT(*) FROM org_units WHERE parent = ?1 AND retired_at IS NULL AND ?2 = ?2")? > 0 {
        return Err(StoreError::Invalid(format!(
            "{id:?} still has units under it: move or retire them first"
        )));
    }
    if count("SELECT COUNT(*) FROM accounts WHERE org_unit = ?1 AND ?2 = ?2")? > 0 {
        return Err(StoreError::Invalid(format!("an account belongs to {id:?}: change the account first")));
    }
    let upcoming: Vec<String> = {
        let mut stmt = tx.prepare(
            "SELECT m.title FROM meetings m JOIN meeting_participants p ON p.meeting = m.id
             WHERE p.org_unit = ?1 AND m.end_local >= ?2 AND m.cancelled_at IS NULL AND m.ended_at IS NULL
             ORDER BY m.start_local LIMIT 5",
        )?;
        let rows = stmt.query_map(params![id, upcoming_after], |r| r.get::<_, String>(0))?;
        rows.collect::<Result<_, _>>()?
    };
    if !upcoming.is_empty() {
        return Err(StoreError::Invalid(format!(
            "{id:?} is invited to upcoming meetings ({}): take it off them first",
            upcoming.join("、")
        )));
    }
    let templates: Vec<String> = {
        let mut stmt = tx.prepare("SELECT name, body FROM templates")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut named = Vec::new();
        for row in rows {
            let (name, body) = row?;
            let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            if json["participants"].as_array().is_some_and(|p| p.iter().any(|v| v == id)) {
                named.push(name);
            }
        }
        named
    };
    if !templates.is_empty() {
        return Err(StoreError::Invalid(format!(
            "templates name {id:?} ({}): change them first",
            templates.join("、")
        )));
    }
    tx.execute("UPDATE org_units SET retired_at = ?2 WHERE id = ?1", params![id, now])?;
    tx.commit()?;
    Ok(())
}

/// A join link's epoch (0 until re-issued).
pub(super) fn link_epoch(conn: &Connection, meeting: &str, participant: &str) -> Result<i64, StoreError> {
    Ok(conn
        .query_row(
            "SELECT epoch FROM link_epochs WHERE meeting = ?1 AND participant = ?2",
            [meeting, participant],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

/// Bumps a join link's epoch.
pub(super) fn bump_link_epoch(
    conn: &Connection,
    meeting: &str,
    participant: &str,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO link_epochs (meeting, participant, epoch) VALUES (?1, ?2, 1)
         ON CONFLICT (meeting, participant) DO UPDATE SET epoch = epoch + 1",
        [meeting, participant],
    )?;
    link_epoch(conn, meeting, participant)
}
