//! Accounts: loading one, and changing a password (which ends the
//! account's other sessions).

use rusqlite::{params, Connection, OptionalExtension};

use crate::store::{parse_role, Account, StoreError};

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
                "SELECT id, username, display_name, role, org_unit, password_hash, failed_logins, locked_until FROM accounts WHERE {column} = ?1"
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
    })
}

pub(super) fn set_password(
    conn: &mut Connection,
    id: &str,
    hash: &str,
    keep: &str,
) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    if tx.execute("UPDATE accounts SET password_hash = ?2 WHERE id = ?1", params![id, hash])? == 0 {
        return Err(StoreError::NotFound(format!("account {id}")));
    }
    tx.execute("DELETE FROM sessions WHERE account = ?1 AND token_hash != ?2", params![id, keep])?;
    tx.commit()?;
    Ok(())
}
