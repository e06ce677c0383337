//! The audit log as a hash chain (等保 2.0: tamper-evident audit). Each
//! record's `hash` is SHA-256 over the previous record's hash and its own
//! fields ([`crate::store::audit_hash`]); triggers refuse updates and
//! deletes, and where someone bypasses them (with the database file in
//! hand) [`verify`] finds the first record that no longer fits.

use rusqlite::{params, Connection, OptionalExtension};

use crate::store::{audit_hash, AuditEntry, AuditFilter, ChainReport, NewAudit, StoreError};

/// Longest action, target, detail and source kept (characters): a record is
/// bounded whatever the request carried.
const MAX_ACTION: usize = 64;
const MAX_TARGET: usize = 256;
const MAX_DETAIL: usize = 2000;
const MAX_SOURCE: usize = 64;

fn bounded(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut cut: String = s.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

fn last_hash(conn: &Connection) -> Result<String, StoreError> {
    Ok(conn
        .query_row("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1", [], |r| {
            r.get::<_, Option<String>>(0)
        })
        .optional()?
        .flatten()
        .unwrap_or_default())
}

/// Appends one record, chained to the last (inside the caller's transaction).
pub(super) fn append(conn: &Connection, e: &NewAudit<'_>, now: i64) -> Result<(), StoreError> {
    let prev = last_hash(conn)?;
    let entry = AuditEntry {
        seq: 0,
        at: now,
        actor: e.actor.map(|a| bounded(a, MAX_TARGET)),
        action: bounded(e.action, MAX_ACTION),
        target: e.target.map(|t| bounded(t, MAX_TARGET)),
        detail: bounded(e.detail, MAX_DETAIL),
        source: e.source.map(|s| bounded(s, MAX_SOURCE)),
        outcome: bounded(e.outcome, MAX_ACTION),
        actor_name: None,
    };
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, target, detail, source, outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![entry.at, entry.actor, entry.action, entry.target, entry.detail, entry.source, entry.outcome],
    )?;
    let seq = conn.last_insert_rowid();
    let hash = audit_hash(&prev, &AuditEntry { seq, ..entry });
    conn.execute("UPDATE audit_log SET hash = ?2 WHERE seq = ?1", params![seq, hash])?;
    Ok(())
}

fn entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        target: r.get(4)?,
        detail: r.get(5)?,
        source: r.get(6)?,
        outcome: r.get(7)?,
        actor_name: None,
    })
}

const COLUMNS: &str = "seq, at, actor, action, target, detail, source, outcome";

/// Records written before the chain existed get their hashes, once, in
/// order (the trigger lets a missing hash be set, nothing else).
pub(super) fn chain_unhashed(conn: &mut Connection) -> Result<(), StoreError> {
    let first: Option<i64> =
        conn.query_row("SELECT MIN(seq) FROM audit_log WHERE hash IS NULL", [], |r| r.get(0))?;
    let Some(first) = first else { return Ok(()) };
    let tx = conn.savepoint()?;
    let mut prev: String = tx
        .query_row("SELECT hash FROM audit_log WHERE seq < ?1 ORDER BY seq DESC LIMIT 1", [first], |r| {
            r.get::<_, Option<String>>(0)
        })
        .optional()?
        .flatten()
        .unwrap_or_default();
    let rows: Vec<AuditEntry> = {
        let mut stmt =
            tx.prepare(&format!("SELECT {COLUMNS} FROM audit_log WHERE seq >= ?1 ORDER BY seq"))?;
        let rows = stmt.query_map([first], entry)?.collect::<Result<Vec<_>, _>>()?;
        rows
    };
    for e in &rows {
        let hash = audit_hash(&prev, e);
        tx.execute("UPDATE audit_log SET hash = ?2 WHERE seq = ?1 AND hash IS NULL", params![e.seq, hash])?;
        prev = hash;
    }
    tx.commit()?;
    tracing::info!(records = rows.len(), "audit records chained");
    Ok(())
}

/// Walks the whole chain.
pub(super) fn verify(conn: &Connection) -> Result<ChainReport, StoreError> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS}, hash FROM audit_log ORDER BY seq"))?;
    let mut rows = stmt.query([])?;
    let mut report = ChainReport::default();
    let mut prev = String::new();
    while let Some(row) = rows.next()? {
        let e = entry(row)?;
        let stored: Option<String> = row.get(8)?;
        let expected = audit_hash(&prev, &e);
        if report.broken_at.is_none() && stored.as_deref() != Some(expected.as_str()) {
            report.broken_at = Some(e.seq);
        }
        report.records += 1;
        report.head_seq = Some(e.seq);
        prev = stored.unwrap_or_default();
    }
    report.head_hash = (!prev.is_empty()).then_some(prev);
    Ok(report)
}

/// A page of records matching `f`, newest first, each with its actor's
/// username (when the actor is an account that exists).
pub(super) fn page(conn: &Connection, f: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
    // A prefix: `%` and `_` in it are literal.
    let action_like = f
        .action
        .as_ref()
        .map(|a| format!("{}%", a.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
    let mut stmt = conn.prepare(
        "SELECT l.seq, l.at, l.actor, l.action, l.target, l.detail, l.source, l.outcome, a.username
         FROM audit_log l LEFT JOIN accounts a ON a.id = l.actor
         WHERE l.seq < ?1
           AND (?2 IS NULL OR l.actor = ?2)
           AND (?3 IS NULL OR l.action LIKE ?3 ESCAPE '\\')
           AND (?4 IS NULL OR l.outcome = ?4)
           AND (?5 IS NULL OR l.at >= ?5)
           AND (?6 IS NULL OR l.at < ?6)
         ORDER BY l.seq DESC LIMIT ?7",
    )?;
    let rows = stmt.query_map(
        params![f.before.unwrap_or(i64::MAX), f.actor, action_like, f.outcome, f.from, f.to, f.limit],
        |r| Ok(AuditEntry { actor_name: r.get(8)?, ..entry(r)? }),
    )?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
