//! The embedded SQLite store: one file in the data directory, migrations
//! applied on open (tracked by `PRAGMA user_version`), WAL journal, foreign
//! keys on. One connection behind a mutex: SQLite has one writer anyway, and
//! the control plane's write rate is that of people clicking.

use std::cell::RefCell;
use std::path::Path;

use parking_lot::ReentrantMutex;

use chrono::NaiveDateTime;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{
    Account, AccountRole, AttendanceEvent, Audit, AuditEntry, AuditFilter, ChainReport, LoginDecision, Mark,
    MeetingRecord, NewAudit, OrgKind, OrgUnit, PasswordSet, RollCallRecord, Store, StoreError, Template,
};

mod accounts;
mod audit;
mod live;
mod meetings;
mod org;
mod rollcalls;
mod sessions;
mod templates;

use accounts::load_account;
use meetings::{check_meeting, load_meeting, write_participants};

/// Migrations in order; `user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_attendance.sql"),
    include_str!("../../migrations/0003_sign_in.sql"),
    include_str!("../../migrations/0004_rsvp.sql"),
    include_str!("../../migrations/0005_series.sql"),
    include_str!("../../migrations/0006_lifecycle_templates.sql"),
    include_str!("../../migrations/0007_roll_calls.sql"),
    include_str!("../../migrations/0008_security.sql"),
    include_str!("../../migrations/0009_live_meetings.sql"),
    include_str!("../../migrations/0010_record.sql"),
];

const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// SQLite-backed [`Store`]. The lock is re-entrant so that
/// [`Store::audited`] can hold one transaction open around the store calls
/// of its operation; every method's own transaction is then a savepoint
/// inside it.
pub struct SqliteStore {
    conn: ReentrantMutex<RefCell<Connection>>,
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
        audit::chain_unhashed(&mut conn)?;
        Ok(SqliteStore { conn: ReentrantMutex::new(RefCell::new(conn)) })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let guard = self.conn.lock();
        let mut conn =
            guard.try_borrow_mut().map_err(|_| StoreError::Db("the store was re-entered".into()))?;
        f(&mut conn)
    }
}

/// Applies the migrations not yet applied, each in its own transaction with
/// foreign keys off (SQLite's procedure for rebuilding a table), checking
/// them before it commits.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if applied as usize >= MIGRATIONS.len() {
        return Ok(());
    }
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let result = (|| {
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
            tx.execute_batch(sql)?;
            let broken: Option<String> =
                tx.query_row("PRAGMA foreign_key_check", [], |r| r.get(0)).optional()?;
            if let Some(table) = broken {
                return Err(StoreError::Db(format!("migration {} breaks a reference in {table}", i + 1)));
            }
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
            tracing::info!(version = i + 1, "database migrated");
        }
        Ok(())
    })();
    conn.pragma_update(None, "foreign_keys", "ON")?;
    result
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

/// The organisation's units, in import order; retired ones only if asked.
fn org_units(conn: &Connection, retired: bool) -> Result<Vec<OrgUnit>, StoreError> {
    let sql = if retired {
        "SELECT id, parent, name, kind FROM org_units ORDER BY sort, id"
    } else {
        "SELECT id, parent, name, kind FROM org_units WHERE retired_at IS NULL ORDER BY sort, id"
    };
    let mut stmt = conn.prepare(sql)?;
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
        let kind = OrgKind::parse(&kind).ok_or_else(|| StoreError::Db(format!("bad kind {kind:?}")))?;
        Ok(OrgUnit { id, parent, name, kind })
    })
    .collect()
}

impl Store for SqliteStore {
    fn import_org(&self, units: &[OrgUnit]) -> Result<usize, StoreError> {
        self.with(|conn| {
            let tx = conn.savepoint()?;
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
            // Checked here, not left to the commit: inside an audited
            // transaction this is a savepoint, whose release checks nothing.
            let orphan: Option<i64> =
                tx.query_row("PRAGMA foreign_key_check(org_units)", [], |r| r.get(1)).optional()?;
            if orphan.is_some() {
                return Err(StoreError::Invalid("a parent id does not exist in the file or the tree".into()));
            }
            tx.commit()?;
            Ok(units.len())
        })
    }

    fn org_units(&self) -> Result<Vec<OrgUnit>, StoreError> {
        self.with(|conn| org_units(conn, false))
    }

    fn create_account(&self, a: &Account, now: i64) -> Result<(), StoreError> {
        self.with(|conn| accounts::create(conn, a, now))
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

    fn set_password(&self, id: &str, change: &PasswordSet<'_>) -> Result<(), StoreError> {
        self.with(|conn| accounts::set_password(conn, id, change))
    }

    fn password_history(&self, id: &str) -> Result<Vec<String>, StoreError> {
        self.with(|conn| accounts::history(conn, id))
    }

    fn end_sessions(&self, id: &str) -> Result<usize, StoreError> {
        self.with(|conn| Ok(conn.execute("DELETE FROM sessions WHERE account = ?1", [id])?))
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
            let tx = conn.savepoint()?;
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
            let tx = conn.savepoint()?;
            tx.execute(
                "INSERT INTO meetings (id, title, agenda, start_local, end_local, chair, open_before_min, version, created_by, created_at, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?10)",
                params![m.id, m.title.trim(), m.agenda, fmt_time(m.start), fmt_time(m.end), m.chair, m.open_before_min, created_by, now, m.record],
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
            let tx = conn.savepoint()?;
            for m in meetings {
                tx.execute(
                    "INSERT INTO meetings (id, title, agenda, start_local, end_local, chair, open_before_min, version, created_by, created_at, series, occurrence_date, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?10, ?11, ?12)",
                    params![m.id, m.title.trim(), m.agenda, fmt_time(m.start), fmt_time(m.end), m.chair, m.open_before_min, created_by, now, series, m.start.date().to_string(), m.record],
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
            let tx = conn.savepoint()?;
            let current: i64 = tx
                .query_row("SELECT version FROM meetings WHERE id = ?1", [&m.id], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("meeting {}", m.id)))?;
            if current != expected {
                return Err(StoreError::Conflict { current });
            }
            tx.execute(
                "UPDATE meetings SET title = ?2, agenda = ?3, start_local = ?4, end_local = ?5, chair = ?6, open_before_min = ?7, record = ?8, version = version + 1 WHERE id = ?1",
                params![m.id, m.title.trim(), m.agenda, fmt_time(m.start), fmt_time(m.end), m.chair, m.open_before_min, m.record],
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
            let tx = conn.savepoint()?;
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
        max: u32,
    ) -> Result<(), StoreError> {
        self.with(|conn| sessions::create(conn, token_hash, account, now, expires, max))
    }

    fn session_account(&self, token_hash: &str, now: i64, idle: i64) -> Result<Account, StoreError> {
        self.with(|conn| {
            let id = sessions::account_of(conn, token_hash, now, idle)?;
            accounts::load_account_by(conn, "id", &id)
        })
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

    fn save_live(&self, meeting: &str, state: &str, at: i64) -> Result<(), StoreError> {
        self.with(|conn| live::save(conn, meeting, state, at))
    }

    fn live_heartbeat(&self, meeting: &str, at: i64) -> Result<(), StoreError> {
        self.with(|conn| live::heartbeat(conn, meeting, at))
    }

    fn live_state(&self, meeting: &str) -> Result<Option<(String, i64)>, StoreError> {
        self.with(|conn| live::load(conn, meeting))
    }

    fn forget_live(&self, meeting: &str) -> Result<(), StoreError> {
        self.with(|conn| live::forget(conn, meeting))
    }

    fn close_open_attendance(&self, reason: &str) -> Result<usize, StoreError> {
        self.with(|conn| live::close_open(conn, reason))
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
            let tx = conn.savepoint()?;
            audit::append(&tx, &e, now)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn audited(
        &self,
        now: i64,
        op: &mut dyn FnMut(&dyn Store) -> Result<Audit, StoreError>,
    ) -> Result<(), StoreError> {
        // Held across `op`: its store calls re-enter the lock, and their own
        // transactions become savepoints inside this one.
        let guard = self.conn.lock();
        guard.borrow().execute_batch("SAVEPOINT audited")?;
        let result = op(self).and_then(|record| audit::append(&guard.borrow(), &record.as_new(), now));
        let end = if result.is_ok() { "RELEASE audited" } else { "ROLLBACK TO audited; RELEASE audited" };
        guard.borrow().execute_batch(end)?;
        result
    }

    fn audit_page(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        self.with(|conn| audit::page(conn, filter))
    }

    fn audit_verify(&self) -> Result<ChainReport, StoreError> {
        self.with(|conn| audit::verify(conn))
    }

    fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.with(|conn| {
            Ok(conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0)).optional()?)
        })
    }

    fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![key, value],
            )?;
            Ok(())
        })
    }

    fn move_org_unit(&self, id: &str, parent: Option<&str>, name: &str) -> Result<(), StoreError> {
        self.with(|conn| org::move_unit(conn, id, parent, name))
    }

    fn retire_org_unit(&self, id: &str, upcoming_after: NaiveDateTime, now: i64) -> Result<(), StoreError> {
        self.with(|conn| org::retire(conn, id, &fmt_time(upcoming_after), now))
    }

    fn all_org_units(&self) -> Result<Vec<OrgUnit>, StoreError> {
        self.with(|conn| org_units(conn, true))
    }

    fn link_epoch(&self, meeting: &str, participant: &str) -> Result<i64, StoreError> {
        self.with(|conn| org::link_epoch(conn, meeting, participant))
    }

    fn bump_link_epoch(&self, meeting: &str, participant: &str) -> Result<i64, StoreError> {
        self.with(|conn| org::bump_link_epoch(conn, meeting, participant))
    }
}

#[cfg(test)]
mod tests;
