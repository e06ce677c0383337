//! Persistent state behind one trait, so that SQLite (embedded, the default)
//! can later be joined by PostgreSQL for a multi-node deployment. Every
//! method is one transaction: it either stores everything or nothing.
//! Methods block; async callers run them on `spawn_blocking`.

mod sqlite;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

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

/// An account's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountRole {
    /// Administers accounts and the organisation.
    Admin,
    /// Meeting secretary (会务): schedules and runs meetings.
    Secretary,
    /// May chair meetings.
    Chair,
    /// Takes part.
    Participant,
    /// Reads the audit log only.
    Auditor,
    /// An unattended venue terminal.
    Venue,
}

impl AccountRole {
    /// Its name in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountRole::Admin => "admin",
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

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Sequence number.
    pub seq: i64,
    /// When (Unix seconds).
    pub at: i64,
    /// Who (account id), if known.
    pub actor: Option<String>,
    /// What (`login`, `meeting.create`, ...).
    pub action: String,
    /// On what.
    pub target: Option<String>,
    /// Details.
    pub detail: String,
    /// From where (IP address).
    pub source: Option<String>,
    /// `ok`, `denied`, `failed`.
    pub outcome: String,
}

/// A new audit record.
#[derive(Debug, Clone, Default)]
pub struct NewAudit<'a> {
    /// Who.
    pub actor: Option<&'a str>,
    /// What.
    pub action: &'a str,
    /// On what.
    pub target: Option<&'a str>,
    /// Details.
    pub detail: &'a str,
    /// From where.
    pub source: Option<&'a str>,
    /// Outcome.
    pub outcome: &'a str,
}

impl<'a> NewAudit<'a> {
    /// A change an account made successfully (the common case).
    pub fn done(actor: &'a str, action: &'a str, target: Option<&'a str>, detail: &'a str) -> Self {
        NewAudit { actor: Some(actor), action, target, detail, outcome: "ok", source: None }
    }
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
    /// Replaces an account's password hash and ends its sessions but `keep_session` (a token hash).
    fn set_password(&self, id: &str, hash: &str, keep_session: &str) -> Result<(), StoreError>;
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
    /// Stores a login session (the token's hash) until `expires`.
    fn create_session(
        &self,
        token_hash: &str,
        account: &str,
        now: i64,
        expires: i64,
    ) -> Result<(), StoreError>;
    /// The account of a live session.
    fn session_account(&self, token_hash: &str, now: i64) -> Result<Account, StoreError>;
    /// Ends a session.
    fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;
    /// Records a join or a leave.
    fn record_attendance(&self, event: &AttendanceEvent) -> Result<(), StoreError>;
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
    /// Appends to the audit log.
    fn audit(&self, entry: NewAudit<'_>, now: i64) -> Result<(), StoreError>;
    /// The newest audit records, newest first.
    fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_page(None, limit)
    }
    /// A page of the audit log, newest first: at most `limit` records older
    /// than `before` (a `seq`), or the newest without it.
    fn audit_page(&self, before: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>, StoreError>;
}

pub(crate) fn parse_role(s: &str) -> Result<AccountRole, StoreError> {
    AccountRole::parse(s).ok_or_else(|| StoreError::Db(format!("unknown role {s:?} in the database")))
}
