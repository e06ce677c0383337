//! The embedded SQLite store: one file in the data directory, migrations
//! applied on open (tracked by `PRAGMA user_version`), WAL journal, foreign
//! keys on. One connection behind a mutex: SQLite has one writer anyway, and
//! the control plane's write rate is that of people clicking.

use std::path::Path;
use std::sync::Mutex;

use chrono::NaiveDateTime;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{
    Account, AccountRole, AttendanceEvent, AuditEntry, LoginDecision, Mark, MeetingRecord, NewAudit, OrgKind,
    OrgUnit, RollCallRecord, Store, StoreError, Template,
};

mod accounts;
mod org;
mod rollcalls;
mod templates;

use accounts::load_account;

/// Migrations in order; `user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_attendance.sql"),
    include_str!("../../migrations/0003_sign_in.sql"),
    include_str!("../../migrations/0004_rsvp.sql"),
    include_str!("../../migrations/0005_series.sql"),
    include_str!("../../migrations/0006_lifecycle_templates.sql"),
    include_str!("../../migrations/0007_roll_calls.sql"),
];

const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Db(format!("{}: {e}", dir.display())))?;
        }
        let mut conn = Connection::open(path)?;
        // First, so that a second process opening (or migrating) the same
        // file waits for the other instead of failing at once.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        Ok(SqliteStore { conn: Mutex::new(conn) })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut conn = self.conn.lock().map_err(|_| StoreError::Db("store lock poisoned".into()))?;
        f(&mut conn)
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "database migrated");
    }
    Ok(())
}

fn fmt_time(t: NaiveDateTime) -> String {
    t.format(TIME_FORMAT).to_string()
}

fn parse_time(s: &str) -> Result<NaiveDateTime, StoreError> {
    NaiveDateTime::parse_from_str(s, TIME_FORMAT).map_err(|e| StoreError::Db(format!("bad time {s:?}: {e}")))
}

fn unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

fn load_meeting(conn: &Connection, id: &str) -> Result<MeetingRecord, StoreError> {
    let row = conn
        .query_row(
            "SELECT id, title, agenda, start_local, end_local, chair, open_before_min, version, series, CAST(started_at AS INTEGER), CAST(ended_at AS INTEGER), cancelled_at FROM meetings WHERE id = ?1",
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
    })
}

fn write_participants(tx: &rusqlite::Transaction<'_>, meeting: &MeetingRecord) -> Result<(), StoreError> {
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

fn check_meeting(m: &MeetingRecord) -> Result<(), StoreError> {
    if m.title.trim().is_empty() {
        return Err(StoreError::Invalid("the title is empty".into()));
    }
    if m.end <= m.start {
        return Err(StoreError::Invalid("the meeting must end after it starts".into()));
    }
    Ok(())
}

impl Store for SqliteStore {
    fn import_org(&self, units: &[OrgUnit]) -> Result<usize, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            // Defer the parent check to commit, so rows may come in any order.
            tx.execute_batch("PRAGMA defer_foreign_keys = ON")?;
            for (i, u) in units.iter().enumerate() {
                if u.id.trim().is_empty() || u.name.trim().is_empty() {
                    return Err(StoreError::Invalid(format!("row {}: id and name are required", i + 1)));
                }
                tx.execute(
                    "INSERT INTO org_units (id, parent, name, kind, sort) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        u.id.trim(),
                        u.parent.as_deref().map(str::trim),
                        u.name.trim(),
                        u.kind.as_str(),
                        i as i64
                    ],
                )
                .map_err(|e| {
                    if unique_violation(&e) {
                        StoreError::Duplicate(format!("row {}: org unit {:?}", i + 1, u.id))
                    } else {
                        e.into()
                    }
                })?;
            }
            if let Some(id) = org::first_cycle(&tx)? {
                return Err(StoreError::Invalid(format!(
                    "org unit {id:?} would be its own ancestor (a cycle in the parents)"
                )));
            }
            tx.commit().map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
                {
                    StoreError::Invalid("a parent id does not exist in the file or the tree".into())
                }
                other => other.into(),
            })?;
            Ok(units.len())
        })
    }

    fn org_units(&self) -> Result<Vec<OrgUnit>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare("SELECT id, parent, name, kind FROM org_units ORDER BY sort, id")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            rows.map(|r| {
                let (id, parent, name, kind) = r?;
                let kind =
                    OrgKind::parse(&kind).ok_or_else(|| StoreError::Db(format!("bad kind {kind:?}")))?;
                Ok(OrgUnit { id, parent, name, kind })
            })
            .collect()
        })
    }

    fn create_account(&self, a: &Account, now: i64) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute(
                "INSERT INTO accounts (id, username, display_name, role, org_unit, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![a.id, a.username, a.display_name, a.role.as_str(), a.org_unit, a.password_hash, now],
            )
            .map_err(|e| if unique_violation(&e) { StoreError::Duplicate(format!("account {:?}", a.username)) } else { e.into() })?;
            Ok(())
        })
    }

    fn account_by_username(&self, username: &str) -> Result<Account, StoreError> {
        self.with(|conn| load_account(conn, username))
    }

    fn account_by_id(&self, id: &str) -> Result<Account, StoreError> {
        self.with(|conn| accounts::load_account_by(conn, "id", id))
    }

    fn set_role(&self, id: &str, role: AccountRole) -> Result<(), StoreError> {
        self.with(|conn| {
            match conn.execute("UPDATE accounts SET role = ?2 WHERE id = ?1", params![id, role.as_str()])? {
                0 => Err(StoreError::NotFound(format!("account {id}"))),
                _ => Ok(()),
            }
        })
    }

    fn set_password(&self, id: &str, hash: &str, keep_session: &str) -> Result<(), StoreError> {
        self.with(|conn| accounts::set_password(conn, id, hash, keep_session))
    }

    fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare("SELECT username FROM accounts ORDER BY username")?;
            let names = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
            names.iter().map(|n| load_account(conn, n)).collect()
        })
    }

    fn set_login_state(&self, id: &str, failed: i64, locked_until: Option<i64>) -> Result<(), StoreError> {
        self.with(|conn| {
            let n = conn.execute(
                "UPDATE accounts SET failed_logins = ?2, locked_until = ?3 WHERE id = ?1",
                params![id, failed, locked_until],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("account {id}")));
            }
            Ok(())
        })
    }

    fn gate_login(&self, username: &str, decide: &mut LoginDecision<'_>) -> Result<Account, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let account = load_account(&tx, username)?;
            if let Some((failed, locked_until)) = decide(&account) {
                tx.execute(
                    "UPDATE accounts SET failed_logins = ?2, locked_until = ?3 WHERE id = ?1",
                    params![account.id, failed, locked_until],
                )?;
            }
            tx.commit()?;
            Ok(account)
        })
    }

    fn account_count(&self) -> Result<i64, StoreError> {
        self.with(|conn| Ok(conn.query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0))?))
    }

    fn create_meeting(
        &self,
        m: &MeetingRecord,
        created_by: Option<&str>,
        now: i64,
    ) -> Result<MeetingRecord, StoreError> {
        check_meeting(m)?;
        self.with(|conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO meetings (id, title, agenda, start_local, end_local, chair, open_before_min, version, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9)",
                params![m.id, m.title.trim(), m.agenda, fmt_time(m.start), fmt_time(m.end), m.chair, m.open_before_min, created_by, now],
            )
            .map_err(|e| if unique_violation(&e) { StoreError::Duplicate(format!("meeting {}", m.id)) } else { e.into() })?;
            write_participants(&tx, m)?;
            let stored = load_meeting(&tx, &m.id)?;
            tx.commit()?;
            Ok(stored)
        })
    }

    fn create_series(
        &self,
        series: &str,
        meetings: &[MeetingRecord],
        created_by: Option<&str>,
        now: i64,
    ) -> Result<usize, StoreError> {
        for m in meetings {
            check_meeting(m)?;
        }
        self.with(|conn| {
            let tx = conn.transaction()?;
            for m in meetings {
                tx.execute(
                    "INSERT INTO meetings (id, title, agenda, start_local, end_local, chair, open_before_min, version, created_by, created_at, series, occurrence_date) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?10, ?11)",
                    params![m.id, m.title.trim(), m.agenda, fmt_time(m.start), fmt_time(m.end), m.chair, m.open_before_min, created_by, now, series, m.start.date().to_string()],
                )
                .map_err(|e| if unique_violation(&e) { StoreError::Duplicate(format!("meeting {}", m.id)) } else { e.into() })?;
                write_participants(&tx, m)?;
            }
            tx.commit()?;
            Ok(meetings.len())
        })
    }

    fn series_meetings(&self, series: &str) -> Result<Vec<MeetingRecord>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare("SELECT id FROM meetings WHERE series = ?1 ORDER BY start_local")?;
            let ids = stmt.query_map([series], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
            ids.iter().map(|id| load_meeting(conn, id)).collect()
        })
    }

    fn meeting(&self, id: &str) -> Result<MeetingRecord, StoreError> {
        self.with(|conn| load_meeting(conn, id))
    }

    fn update_meeting(&self, m: &MeetingRecord, expected: i64) -> Result<MeetingRecord, StoreError> {
        check_meeting(m)?;
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current: i64 = tx
                .query_row("SELECT version FROM meetings WHERE id = ?1", [&m.id], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("meeting {}", m.id)))?;
            if current != expected {
                return Err(StoreError::Conflict { current });
            }
            tx.execute(
                "UPDATE meetings SET title = ?2, agenda = ?3, start_local = ?4, end_local = ?5, chair = ?6, open_before_min = ?7, version = version + 1 WHERE id = ?1",
                params![m.id, m.title.trim(), m.agenda, fmt_time(m.start), fmt_time(m.end), m.chair, m.open_before_min],
            )?;
            write_participants(&tx, m)?;
            let stored = load_meeting(&tx, &m.id)?;
            tx.commit()?;
            Ok(stored)
        })
    }

    fn mark_meeting(&self, id: &str, mark: Mark, at: i64) -> Result<MeetingRecord, StoreError> {
        let column = match mark {
            Mark::Start => "started_at",
            Mark::End => "ended_at",
            Mark::Cancel => "cancelled_at",
        };
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let sql = format!("UPDATE meetings SET {column} = ?2, version = version + 1 WHERE id = ?1");
            if tx.execute(&sql, params![id, at])? == 0 {
                return Err(StoreError::NotFound(format!("meeting {id}")));
            }
            let stored = load_meeting(&tx, id)?;
            tx.commit()?;
            Ok(stored)
        })
    }

    fn create_template(&self, t: &Template, by: Option<&str>, now: i64) -> Result<(), StoreError> {
        self.with(|conn| templates::create(conn, t, by, now))
    }

    fn templates(&self) -> Result<Vec<Template>, StoreError> {
        self.with(|conn| templates::list(conn))
    }

    fn delete_template(&self, id: &str) -> Result<(), StoreError> {
        self.with(|conn| templates::delete(conn, id))
    }

    fn meetings_between(
        &self,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<Vec<MeetingRecord>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare("SELECT id FROM meetings WHERE start_local >= ?1 AND start_local < ?2 ORDER BY start_local, id")?;
            let ids = stmt.query_map([fmt_time(from), fmt_time(to)], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
            ids.iter().map(|id| load_meeting(conn, id)).collect()
        })
    }

    fn create_session(
        &self,
        token_hash: &str,
        account: &str,
        now: i64,
        expires: i64,
    ) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?;
            conn.execute(
                "INSERT INTO sessions (token_hash, account, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![token_hash, account, now, expires],
            )?;
            Ok(())
        })
    }

    fn session_account(&self, token_hash: &str, now: i64) -> Result<Account, StoreError> {
        let username: String = self.with(|conn| {
            conn.query_row(
                "SELECT a.username FROM sessions s JOIN accounts a ON a.id = s.account WHERE s.token_hash = ?1 AND s.expires_at > ?2",
                params![token_hash, now],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound("session".into()))
        })?;
        self.account_by_username(&username)
    }

    fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
            Ok(())
        })
    }

    fn record_attendance(&self, e: &AttendanceEvent) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute(
                "INSERT INTO attendance_events (meeting, participant, name, event, at, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![e.meeting, e.participant, e.name, e.event, e.at, e.reason],
            )?;
            Ok(())
        })
    }

    fn record_roll_call(&self, roll_call: &RollCallRecord) -> Result<(), StoreError> {
        self.with(|conn| rollcalls::insert(conn, roll_call))
    }

    fn roll_calls(&self, meeting: &str) -> Result<Vec<RollCallRecord>, StoreError> {
        self.with(|conn| rollcalls::of_meeting(conn, meeting))
    }

    fn record_sign_in(
        &self,
        meeting: &str,
        participant: &str,
        name: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        self.with(|conn| {
            // The first sign-in counts.
            conn.execute(
                "INSERT OR IGNORE INTO sign_ins (meeting, participant, name, at) VALUES (?1, ?2, ?3, ?4)",
                params![meeting, participant, name, at],
            )?;
            Ok(())
        })
    }

    fn record_rsvp(
        &self,
        meeting: &str,
        participant: &str,
        response: &str,
        reason: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute(
                "INSERT INTO rsvps (meeting, participant, response, reason, at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (meeting, participant) DO UPDATE SET response = excluded.response, reason = excluded.reason, at = excluded.at",
                params![meeting, participant, response, reason, at],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_CHECK => {
                    StoreError::Invalid(format!("unknown response {response:?}"))
                }
                other => other.into(),
            })?;
            Ok(())
        })
    }

    fn rsvps(&self, meeting: &str) -> Result<Vec<(String, String, String)>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT participant, response, reason FROM rsvps WHERE meeting = ?1 ORDER BY participant",
            )?;
            let rows = stmt.query_map([meeting], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn sign_ins(&self, meeting: &str) -> Result<Vec<(String, i64)>, StoreError> {
        self.with(|conn| {
            let mut stmt =
                conn.prepare("SELECT participant, at FROM sign_ins WHERE meeting = ?1 ORDER BY at")?;
            let rows = stmt.query_map([meeting], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn attendance(&self, meeting: &str) -> Result<Vec<AttendanceEvent>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT meeting, participant, name, event, at, reason FROM attendance_events WHERE meeting = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([meeting], |r| {
                Ok(AttendanceEvent {
                    meeting: r.get(0)?,
                    participant: r.get(1)?,
                    name: r.get(2)?,
                    event: r.get(3)?,
                    at: r.get(4)?,
                    reason: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn audit(&self, e: NewAudit<'_>, now: i64) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute(
                "INSERT INTO audit_log (at, actor, action, target, detail, source, outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![now, e.actor, e.action, e.target, e.detail, e.source, e.outcome],
            )?;
            Ok(())
        })
    }

    fn audit_page(&self, before: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT seq, at, actor, action, target, detail, source, outcome FROM audit_log
                 WHERE seq < ?2 ORDER BY seq DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map(params![limit, before.unwrap_or(i64::MAX)], |r| {
                Ok(AuditEntry {
                    seq: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    detail: r.get(5)?,
                    source: r.get(6)?,
                    outcome: r.get(7)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

#[cfg(test)]
mod tests;
