//! The audit log's records as the store reads and writes them, and the
//! hash that chains each to the one before (ADR 0009).

use serde::Serialize;

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
    /// The actor's username, when read with it (not part of the record's hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
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

impl NewAudit<'_> {
    /// The same record, owned (what [`Store::audited`] operations return).
    pub fn owned(&self) -> Audit {
        Audit {
            actor: self.actor.map(str::to_string),
            action: self.action.to_string(),
            target: self.target.map(str::to_string),
            detail: self.detail.to_string(),
            source: self.source.map(str::to_string),
            outcome: self.outcome.to_string(),
        }
    }
}

/// An audit record to write, owned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audit {
    /// Who.
    pub actor: Option<String>,
    /// What.
    pub action: String,
    /// On what.
    pub target: Option<String>,
    /// Details.
    pub detail: String,
    /// From where.
    pub source: Option<String>,
    /// Outcome.
    pub outcome: String,
}

impl Audit {
    /// Borrowed, to write.
    pub fn as_new(&self) -> NewAudit<'_> {
        NewAudit {
            actor: self.actor.as_deref(),
            action: &self.action,
            target: self.target.as_deref(),
            detail: &self.detail,
            source: self.source.as_deref(),
            outcome: &self.outcome,
        }
    }
}

/// Which audit records to read: newest first, at most `limit`, older than
/// `before` (a `seq`), and matching every filter given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Older than this `seq`.
    pub before: Option<i64>,
    /// At most this many.
    pub limit: i64,
    /// By this account id.
    pub actor: Option<String>,
    /// Actions starting with this (`login`, `account.`).
    pub action: Option<String>,
    /// `ok`, `failed` or `denied`.
    pub outcome: Option<String>,
    /// At or after (Unix seconds).
    pub from: Option<i64>,
    /// Before (Unix seconds).
    pub to: Option<i64>,
}

/// What a walk of the audit chain found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Records walked.
    pub records: u64,
    /// The first record whose hash does not fit (changed, or a record
    /// before it removed), if any.
    pub broken_at: Option<i64>,
    /// The newest record's `seq`.
    pub head_seq: Option<i64>,
    /// The newest record's hash: noted outside the server (on paper, in
    /// another system), it shows later whether records were cut off the end.
    pub head_hash: Option<String>,
}

/// The hash of an audit record chained to `prev` (hex; empty for the
/// first): SHA-256 over `prev`, a separator and the record's fields as a
/// JSON array.
pub fn audit_hash(prev: &str, e: &AuditEntry) -> String {
    let fields = serde_json::json!([e.seq, e.at, e.actor, e.action, e.target, e.detail, e.source, e.outcome]);
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(prev.as_bytes());
    ctx.update(b"\x1f");
    ctx.update(fields.to_string().as_bytes());
    ctx.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
