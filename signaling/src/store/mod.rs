//! Persistent state behind one trait, so that SQLite (embedded, the default)
//! can later be joined by PostgreSQL for a multi-node deployment. Every
//! method is one transaction: it either stores everything or nothing.
//! Methods block; async callers run them on `spawn_blocking`.

mod audit;
mod sqlite;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

pub use audit::{audit_hash, Audit, AuditEntry, AuditFilter, ChainReport, NewAudit};
pub use sqlite::SqliteStore;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No such record.
    #[error("{0} not found")]
    NotFound(String),
    /// Someone else changed the record first (ETag / If-Match).
    #[error("the record was changed by someone else (now version {current})")]
    Conflict {
        /// The record's current version.
        current: i64,
    },
    /// A unique name is taken.
    #[error("{0} already exists")]
    Duplicate(String),
    /// The input is inconsistent (unknown parent, bad kind, ...).
    #[error("{0}")]
    Invalid(String),
    /// The database failed.
    #[error("database error: {0}")]
    Db(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}

/// Kind of a node of the organisation tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    /// The county (the root).
    County,
    /// A township (乡镇).
    Township,
    /// A county department (县直单位).
    Department,
    /// A meeting room / venue terminal.
    Venue,
    /// A person.
    Person,
}

impl OrgKind {
    /// Its name in the database and in CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::County => "county",
            OrgKind::Township => "township",
            OrgKind::Department => "department",
            OrgKind::Venue => "venue",
            OrgKind::Person => "person",
        }
    }

    /// Parses a name (English or Chinese).
    pub fn parse(s: &str) -> Option<OrgKind> {
        Some(match s.trim() {
            "county" | "县" => OrgKind::County,
            "township" | "乡镇" => OrgKind::Township,
            "department" | "部门" | "单位" => OrgKind::Department,
            "venue" | "会场" => OrgKind::Venue,
            "person" | "人员" => OrgKind::Person,
            _ => return None,
        })
    }
}

/// A node of the organisation tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgUnit {
    /// Id (from the import file).
    pub id: String,
    /// Parent id; `None` for the county.
    pub parent: Option<String>,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: OrgKind,
}

/// An account's role. Three of them are the separated administrators of
/// 等保 2.0 level 3 (ADR 0009): `Admin`, `Security` and `Auditor`; none of
/// them can do another's work, and their accounts are made on the server
/// (`huiyi admin create`), never through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountRole {
    /// The system administrator (系统管理员): the organisation and the
    /// accounts of the people who use meetings.
    Admin,
    /// The security administrator (安全管理员): roles, unlocking, password
    /// resets and sessions of those accounts.
    Security,
    /// Meeting secretary (会务): schedules and runs meetings.
    Secretary,
    /// May chair meetings.
    Chair,
    /// Takes part.
    Participant,
    /// The audit administrator (审计管理员): reads, filters, exports and
    /// verifies the audit log.
    Auditor,
    /// An unattended venue terminal.
    Venue,
}

impl AccountRole {
    /// Its name in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountRole::Admin => "admin",
            AccountRole::Security => "security",
            AccountRole::Secretary => "secretary",
            AccountRole::Chair => "chair",
            AccountRole::Participant => "participant",
            AccountRole::Auditor => "auditor",
            AccountRole::Venue => "venue",
        }
    }

    fn parse(s: &str) -> Option<AccountRole> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }

    /// One of the three administrators, made only on the server.
    pub fn is_administrator(self) -> bool {
        matches!(self, AccountRole::Admin | AccountRole::Security | AccountRole::Auditor)
    }
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// Id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: AccountRole,
    /// Its node in the organisation tree.
    pub org_unit: Option<String>,
    /// Argon2id PHC string (never serialized).
    #[serde(skip)]
    pub password_hash: String,
    /// Consecutive failed logins.
    pub failed_logins: i64,
    /// Locked until (Unix seconds).
    pub locked_until: Option<i64>,
    /// The password was set by someone else (a one-time password, a reset)
    /// and must be changed before anything else.
    pub must_change_password: bool,
    /// When the password was last set (Unix seconds).
    pub password_changed_at: Option<i64>,
}

/// A meeting as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingRecord {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Agenda.
    pub agenda: String,
    /// County-local start.
    pub start: NaiveDateTime,
    /// County-local end.
    pub end: NaiveDateTime,
    /// Chair's account.
    pub chair: Option<String>,
    /// Minutes the join window opens early.
    pub open_before_min: i64,
    /// Invited venues and persons (org-tree ids).
    pub participants: Vec<String>,
    /// Version, for ETag / If-Match.
    pub version: i64,
    /// The recurring series it is an occurrence of.
    #[serde(default)]
    pub series: Option<String>,
    /// Started by hand at (Unix seconds).
    #[serde(default)]
    pub started_at: Option<i64>,
    /// Ended by hand at (Unix seconds).
    #[serde(default)]
    pub ended_at: Option<i64>,
    /// Cancelled at (Unix seconds).
    #[serde(default)]
    pub cancelled_at: Option<i64>,
    /// Recorded automatically from when the live meeting opens.
    #[serde(default)]
    pub record: bool,
}

/// What the secretary does by hand to a meeting's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Start now.
    Start,
    /// End now.
    End,
    /// Call it off.
    Cancel,
}

/// A meeting template: the same title, venues and length every time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Id (given by the server).
    #[serde(default)]
    pub id: String,
    /// Its name in the template list (unique).
    pub name: String,
    /// Title of the meetings made from it.
    pub title: String,
    /// Agenda.
    #[serde(default)]
    pub agenda: String,
    /// Chair's account.
    #[serde(default)]
    pub chair: Option<String>,
    /// Invited venues and persons (org-tree ids).
    #[serde(default)]
    pub participants: Vec<String>,
    /// Length in minutes.
    pub duration_min: i64,
    /// Minutes the join window opens early.
    #[serde(default = "default_open_before")]
    pub open_before_min: i64,
}

fn default_open_before() -> i64 {
    30
}

/// One join or leave of a live meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttendanceEvent {
    /// Meeting id.
    pub meeting: String,
    /// Participant id (an org-tree id for invited venues and persons).
    pub participant: String,
    /// Name at the time.
    pub name: String,
    /// `join` or `leave`.
    pub event: String,
    /// When (Unix seconds).
    pub at: i64,
    /// Why it left (`left`, `timeout`, `removed`, `ended`).
    pub reason: String,
}

/// A finished roll call (点名) of a live meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollCallRecord {
    /// Meeting id.
    pub meeting: String,
    /// The meeting's title then.
    pub title: String,
    /// When it started (Unix ms).
    pub started_at_ms: i64,
    /// Walked automatically.
    pub auto: bool,
    /// Who was called, in order.
    pub entries: Vec<RollCallLine>,
}

/// One called participant of a roll call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollCallLine {
    /// Participant id.
    pub participant: String,
    /// Name.
    pub name: String,
    /// `answered`, `no_answer`, `not_joined` (or `waiting`/`calling` in a
    /// record torn by a crash).
    pub status: String,
    /// When called (Unix ms).
    pub called_at_ms: Option<i64>,
    /// When answered (Unix ms).
    pub answered_at_ms: Option<i64>,
}

/// Given an account as stored, the login counters to write (failed logins
/// in a row, locked until), or `None` to leave them.
pub type LoginDecision<'a> = dyn FnMut(&Account) -> Option<(i64, Option<i64>)> + 'a;

/// The persistent state of Huiyi.
pub trait Store: Send + Sync {
    /// Replaces nothing, adds the given units (parents first or in any order);
    /// all or nothing.
    fn import_org(&self, units: &[OrgUnit]) -> Result<usize, StoreError>;
    /// The whole organisation tree.
    fn org_units(&self) -> Result<Vec<OrgUnit>, StoreError>;
    /// Creates an account; `password_hash` is already hashed.
    fn create_account(&self, account: &Account, now: i64) -> Result<(), StoreError>;
    /// An account by login name.
    fn account_by_username(&self, username: &str) -> Result<Account, StoreError>;
    /// Looks an account up by id.
    fn account_by_id(&self, id: &str) -> Result<Account, StoreError>;
    /// Stores the login counters of an account.
    fn set_login_state(&self, id: &str, failed: i64, locked_until: Option<i64>) -> Result<(), StoreError>;
    /// Reads the account `username` and, in the same transaction, writes the
    /// login counters `decide` returns for it (nothing for `None`): two
    /// attempts never read the same count. Returns the account as read.
    fn gate_login(&self, username: &str, decide: &mut LoginDecision<'_>) -> Result<Account, StoreError>;
    /// Number of accounts.
    fn account_count(&self) -> Result<i64, StoreError>;
    /// Creates a meeting (version 1).
    fn create_meeting(
        &self,
        meeting: &MeetingRecord,
        created_by: Option<&str>,
        now: i64,
    ) -> Result<MeetingRecord, StoreError>;
    /// Creates every occurrence of a recurring series at once (all or nothing).
    fn create_series(
        &self,
        series: &str,
        meetings: &[MeetingRecord],
        created_by: Option<&str>,
        now: i64,
    ) -> Result<usize, StoreError>;
    /// The occurrences of a series, by start.
    fn series_meetings(&self, series: &str) -> Result<Vec<MeetingRecord>, StoreError>;
    /// A meeting by id.
    fn meeting(&self, id: &str) -> Result<MeetingRecord, StoreError>;
    /// Updates a meeting if its version is still `expected`; returns the new record.
    fn update_meeting(&self, meeting: &MeetingRecord, expected: i64) -> Result<MeetingRecord, StoreError>;
    /// Records a start, end or cancellation by hand (a new version).
    fn mark_meeting(&self, id: &str, mark: Mark, at: i64) -> Result<MeetingRecord, StoreError>;
    /// Replaces an account's password hash (the old one joins the history,
    /// of which the newest `history` are kept), records when, sets whether
    /// it must be changed, and ends the account's sessions but
    /// `keep_session` (a token hash).
    fn set_password(&self, id: &str, change: &PasswordSet<'_>) -> Result<(), StoreError>;
    /// The hashes of the account's earlier passwords, newest first.
    fn password_history(&self, id: &str) -> Result<Vec<String>, StoreError>;
    /// Ends every session of an account; returns how many.
    fn end_sessions(&self, id: &str) -> Result<usize, StoreError>;
    /// Changes an account's role.
    fn set_role(&self, id: &str, role: AccountRole) -> Result<(), StoreError>;
    /// Every account, by username.
    fn accounts(&self) -> Result<Vec<Account>, StoreError>;
    /// Stores a new template (its name must be unique).
    fn create_template(
        &self,
        template: &Template,
        created_by: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Every template, by name.
    fn templates(&self) -> Result<Vec<Template>, StoreError>;
    /// Deletes a template.
    fn delete_template(&self, id: &str) -> Result<(), StoreError>;
    /// Meetings starting in `[from, to)`, by start.
    fn meetings_between(
        &self,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<Vec<MeetingRecord>, StoreError>;
    /// Stores a login session (the token's hash) until `expires`; the
    /// account's oldest sessions end so that it holds at most `max`.
    fn create_session(
        &self,
        token_hash: &str,
        account: &str,
        now: i64,
        expires: i64,
        max: u32,
    ) -> Result<(), StoreError>;
    /// The account of a session alive at `now`: not expired and used within
    /// `idle` seconds (this use counts).
    fn session_account(&self, token_hash: &str, now: i64, idle: i64) -> Result<Account, StoreError>;
    /// Ends a session.
    fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;
    /// Records a join or a leave.
    fn record_attendance(&self, event: &AttendanceEvent) -> Result<(), StoreError>;
    /// Keeps a live meeting's carried state (JSON) as of `at` (Unix s): what
    /// of it survives a server restart (issue 14).
    fn save_live(&self, meeting: &str, state: &str, at: i64) -> Result<(), StoreError>;
    /// Notes that a live meeting was still running at `at`.
    fn live_heartbeat(&self, meeting: &str, at: i64) -> Result<(), StoreError>;
    /// A live meeting's carried state and its last heartbeat, if it was
    /// live when the server stopped.
    fn live_state(&self, meeting: &str) -> Result<Option<(String, i64)>, StoreError>;
    /// Forgets a live meeting's carried state (it ended, or everyone left).
    fn forget_live(&self, meeting: &str) -> Result<(), StoreError>;
    /// At start: closes every attendance interval still open (a crash left
    /// it so) at its meeting's last heartbeat, with `reason`; returns how many.
    fn close_open_attendance(&self, reason: &str) -> Result<usize, StoreError>;
    /// Keeps a finished roll call.
    fn record_roll_call(&self, roll_call: &RollCallRecord) -> Result<(), StoreError>;
    /// The roll calls of a meeting, oldest first.
    fn roll_calls(&self, meeting: &str) -> Result<Vec<RollCallRecord>, StoreError>;
    /// Records a participant's sign-in (签到); the first one counts.
    fn record_sign_in(&self, meeting: &str, participant: &str, name: &str, at: i64)
        -> Result<(), StoreError>;
    /// Stores a reply to the notice (`confirmed` or `leave` with a reason); the latest counts.
    fn record_rsvp(
        &self,
        meeting: &str,
        participant: &str,
        response: &str,
        reason: &str,
        at: i64,
    ) -> Result<(), StoreError>;
    /// Replies of a meeting: participant, response, reason.
    fn rsvps(&self, meeting: &str) -> Result<Vec<(String, String, String)>, StoreError>;
    /// Sign-ins of a meeting: participant and time.
    fn sign_ins(&self, meeting: &str) -> Result<Vec<(String, i64)>, StoreError>;
    /// Every join and leave of a meeting, in order.
    fn attendance(&self, meeting: &str) -> Result<Vec<AttendanceEvent>, StoreError>;
    /// Appends to the audit log (chained to the record before).
    fn audit(&self, entry: NewAudit<'_>, now: i64) -> Result<(), StoreError>;
    /// Runs `op` and writes the audit record it returns, in one
    /// transaction: both are stored or neither.
    fn audited(
        &self,
        now: i64,
        op: &mut dyn FnMut(&dyn Store) -> Result<Audit, StoreError>,
    ) -> Result<(), StoreError>;
    /// The newest audit records, newest first.
    fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_page(&AuditFilter { limit, ..Default::default() })
    }
    /// A page of the audit log, newest first.
    fn audit_page(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError>;
    /// Walks the audit chain from the first record.
    fn audit_verify(&self) -> Result<ChainReport, StoreError>;
    /// A remembered server setting.
    fn setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Remembers a server setting.
    fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Changes a unit's parent and name (refused if it would be its own
    /// ancestor).
    fn move_org_unit(&self, id: &str, parent: Option<&str>, name: &str) -> Result<(), StoreError>;
    /// Retires a unit: gone from the tree and from new invitations, its name
    /// kept for the meetings it had. Refused while it has units under it, an
    /// account or an upcoming meeting or template (`upcoming_after`, a
    /// county-local time) refers to it.
    fn retire_org_unit(&self, id: &str, upcoming_after: NaiveDateTime, now: i64) -> Result<(), StoreError>;
    /// Every unit ever, retired ones too (names for past meetings).
    fn all_org_units(&self) -> Result<Vec<OrgUnit>, StoreError>;
    /// The current epoch of a participant's join link (0 until re-issued).
    fn link_epoch(&self, meeting: &str, participant: &str) -> Result<i64, StoreError>;
    /// Re-issues a participant's join link: bumps its epoch (the old link
    /// stops working) and returns the new one.
    fn bump_link_epoch(&self, meeting: &str, participant: &str) -> Result<i64, StoreError>;
}

/// A new password as stored by [`Store::set_password`].
#[derive(Debug, Clone)]
pub struct PasswordSet<'a> {
    /// Its argon2id hash.
    pub hash: &'a str,
    /// The session that stays (a token hash; empty: none).
    pub keep_session: &'a str,
    /// When.
    pub now: i64,
    /// Set by someone else: the account must change it first.
    pub must_change: bool,
    /// Earlier hashes to keep.
    pub history: u32,
}

pub(crate) fn parse_role(s: &str) -> Result<AccountRole, StoreError> {
    AccountRole::parse(s).ok_or_else(|| StoreError::Db(format!("unknown role {s:?} in the database")))
}
