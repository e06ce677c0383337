//! Console sessions: a bounded number per account, ending when idle or old.

use rusqlite::{params, Connection, OptionalExtension};

use crate::store::StoreError;

/// Seconds between two writes of a session's `last_seen` (a request does
/// not write the database every time).
const TOUCH_EVERY: i64 = 30;

/// Stores a session; the account's oldest ones beyond `max - 1` end first.
pub(super) fn create(
    conn: &mut Connection,
    token_hash: &str,
    account: &str,
    now: i64,
    expires: i64,
    max: u32,
) -> Result<(), StoreError> {
    let tx = conn.savepoint()?;
    tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?;
    tx.execute(
        "DELETE FROM sessions WHERE account = ?1 AND token_hash IN (
             SELECT token_hash FROM sessions WHERE account = ?1
             ORDER BY created_at DESC, last_seen DESC LIMIT -1 OFFSET ?2)",
        params![account, i64::from(max.max(1)) - 1],
    )?;
    tx.execute(
        "INSERT INTO sessions (token_hash, account, created_at, expires_at, last_seen) VALUES (?1, ?2, ?3, ?4, ?3)",
        params![token_hash, account, now, expires],
    )?;
    tx.commit()?;
    Ok(())
}

/// The account id of a session alive at `now` (not expired, used within
/// `idle` seconds); marks it used. An idle or expired session is removed.
pub(super) fn account_of(
    conn: &Connection,
    token_hash: &str,
    now: i64,
    idle: i64,
) -> Result<String, StoreError> {
    let row: Option<(String, i64, i64)> = conn
        .query_row(
            "SELECT account, expires_at, last_seen FROM sessions WHERE token_hash = ?1",
            [token_hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((account, expires, last_seen)) = row else {
        return Err(StoreError::NotFound("session".into()));
    };
    if expires <= now || last_seen + idle <= now {
        conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
        return Err(StoreError::NotFound("session".into()));
    }
    if now - last_seen >= TOUCH_EVERY {
        conn.execute("UPDATE sessions SET last_seen = ?2 WHERE token_hash = ?1", params![token_hash, now])?;
    }
    Ok(account)
}
