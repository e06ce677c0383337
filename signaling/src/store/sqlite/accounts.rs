//! Accounts: loading one, and changing a password (which ends the
//! account's other sessions).

use rusqlite::{params, Connection, OptionalExtension};

use crate::store::{parse_role, Account, PasswordSet, StoreError};

pub(super) fn load_account(conn: &Connection, username: &str) -> Result<Account, StoreError> {
    load_account_by(conn, "username", username)
}

/// The account whose `column` (`id` or `username`, both unique) is `value`.
pub(super) fn load_account_by(
    conn: &Connection,
    column: &'static str,
    value: &str,
) -> Result<Account, StoreError> {
    let row = conn
        .query_row(
            &format!(
                "SELECT id, username, display_name, role, org_unit, password_hash, failed_logins, locked_until, must_change_password, password_changed_at FROM accounts WHERE {column} = ?1"
            ),
            [value],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, Option<i64>>(7)?,
                    r.get::<_, bool>(8)?,
                    r.get::<_, Option<i64>>(9)?,
                ))
            },
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("account {value:?}")))?;
    Ok(Account {
        id: row.0,
        username: row.1,
        display_name: row.2,
        role: parse_role(&row.3)?,
        org_unit: row.4,
        password_hash: row.5,
        failed_logins: row.6,
        locked_until: row.7,
        must_change_password: row.8,
        password_changed_at: row.9,
    })
}

pub(super) fn set_password(conn: &mut Connection, id: &str, new: &PasswordSet<'_>) -> Result<(), StoreError> {
    let tx = conn.savepoint()?;
    let old: String = tx
        .query_row("SELECT password_hash FROM accounts WHERE id = ?1", [id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("account {id}")))?;
    tx.execute(
        "INSERT INTO password_history (account, hash, at) VALUES (?1, ?2, ?3)",
        params![id, old, new.now],
    )?;
    tx.execute(
        "DELETE FROM password_history WHERE account = ?1 AND rowid NOT IN (
             SELECT rowid FROM password_history WHERE account = ?1 ORDER BY at DESC, rowid DESC LIMIT ?2)",
        params![id, i64::from(new.history)],
    )?;
    tx.execute(
        "UPDATE accounts SET password_hash = ?2, password_changed_at = ?3, must_change_password = ?4,
             failed_logins = 0, locked_until = NULL WHERE id = ?1",
        params![id, new.hash, new.now, new.must_change],
    )?;
    tx.execute(
        "DELETE FROM sessions WHERE account = ?1 AND token_hash != ?2",
        params![id, new.keep_session],
    )?;
    tx.commit()?;
    Ok(())
}

/// Earlier password hashes, newest first.
pub(super) fn history(conn: &Connection, id: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT hash FROM password_history WHERE account = ?1 ORDER BY at DESC, rowid DESC")?;
    let rows = stmt.query_map([id], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn create(conn: &Connection, a: &Account, now: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO accounts (id, username, display_name, role, org_unit, password_hash, created_at, must_change_password, password_changed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7)",
        params![a.id, a.username, a.display_name, a.role.as_str(), a.org_unit, a.password_hash, now, a.must_change_password],
    )
    .map_err(|e| {
        if super::unique_violation(&e) {
            StoreError::Duplicate(format!("account {:?}", a.username))
        } else {
            e.into()
        }
    })?;
    Ok(())
}
