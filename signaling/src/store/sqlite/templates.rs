//! Meeting templates: a name and the meeting's fields as JSON.

use rusqlite::{params, Connection};

use super::unique_violation;
use crate::store::{StoreError, Template};

pub(super) fn create(conn: &Connection, t: &Template, by: Option<&str>, now: i64) -> Result<(), StoreError> {
    let body = serde_json::to_string(t).map_err(|e| StoreError::Db(e.to_string()))?;
    conn.execute(
        "INSERT INTO templates (id, name, body, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![t.id, t.name.trim(), body, by, now],
    )
    .map_err(|e| {
        if unique_violation(&e) {
            StoreError::Duplicate(format!("template {:?}", t.name.trim()))
        } else {
            e.into()
        }
    })?;
    Ok(())
}

pub(super) fn list(conn: &Connection) -> Result<Vec<Template>, StoreError> {
    let mut stmt = conn.prepare("SELECT body FROM templates ORDER BY name")?;
    let bodies = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
    bodies
        .iter()
        .map(|b| serde_json::from_str(b).map_err(|e| StoreError::Db(format!("a stored template: {e}"))))
        .collect()
}

pub(super) fn delete(conn: &Connection, id: &str) -> Result<(), StoreError> {
    match conn.execute("DELETE FROM templates WHERE id = ?1", [id])? {
        0 => Err(StoreError::NotFound(format!("template {id}"))),
        _ => Ok(()),
    }
}
