//! Who may do what: the one place that answers it. The table "Who may do
//! what" in docs/api.md is this module written out; a test reads that table
//! and holds it against [`Account::may`], and `tests/permissions.rs` walks
//! every route for every role.

use crate::store::{Account, AccountRole, MeetingRecord};

/// Something an account may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Import, move and retire units of the organisation (system administrator).
    ManageOrg,
    /// Create the accounts of the people who use meetings (system administrator).
    CreateAccounts,
    /// Change those accounts' roles, unlock them, reset their passwords and
    /// end their sessions (security administrator).
    ManageAccounts,
    /// List accounts (the console's chair picker, the administrators' lists).
    ListAccounts,
    /// Create, edit and cancel meetings, series and templates; see and
    /// re-issue the invitation links.
    Schedule,
    /// Read a meeting (list, detail, ICS, series).
    ReadMeeting,
    /// Start or end a meeting by hand.
    RunMeeting,
    /// Read a meeting's attendance (JSON, CSV, XLSX).
    ReadAttendance,
    /// Get one's own join link of a meeting.
    JoinLink,
    /// Read, filter, export and verify the audit log (audit administrator).
    ReadAudit,
    /// List, download and play a meeting's recordings, compose them.
    ReadRecordings,
    /// Delete a recording (audited).
    DeleteRecordings,
}

impl Permission {
    /// What a refusal says.
    pub fn denial(self) -> &'static str {
        match self {
            Permission::ManageOrg | Permission::CreateAccounts => "only the system administrator may do this",
            Permission::ManageAccounts => "only the security administrator may do this",
            Permission::ListAccounts => "only a secretary or an administrator may list accounts",
            Permission::Schedule => "only a secretary or the system administrator may do this",
            Permission::ReadMeeting | Permission::JoinLink => "you are not invited to this meeting",
            Permission::RunMeeting => "only the secretary, an admin or this meeting's chair may do this",
            Permission::ReadAttendance => {
                "only the secretary, an admin, the auditor or the chair see attendance"
            }
            Permission::ReadAudit => "only the audit administrator may read the audit log",
            Permission::ReadRecordings => {
                "only the secretary, an admin, the auditor or the chair see recordings"
            }
            Permission::DeleteRecordings => "only the secretary or an admin may delete recordings",
        }
    }
}

impl Account {
    /// Whether this account may do `what` (to `meeting`, for the
    /// permissions that depend on one; without a meeting they are refused
    /// to those who hold them only for some meetings).
    pub fn may(&self, what: Permission, meeting: Option<&MeetingRecord>) -> bool {
        use AccountRole::{Admin, Auditor, Chair, Participant, Secretary, Security, Venue};
        let chairs =
            meeting.is_some_and(|m| self.role == Chair && m.chair.as_deref() == Some(self.id.as_str()));
        let invited =
            meeting.is_some_and(|m| self.org_unit.as_ref().is_some_and(|u| m.participants.contains(u)));
        match what {
            Permission::ManageOrg | Permission::CreateAccounts => self.role == Admin,
            Permission::ManageAccounts => self.role == Security,
            Permission::ListAccounts => matches!(self.role, Admin | Security | Secretary),
            Permission::Schedule => matches!(self.role, Admin | Secretary),
            Permission::ReadMeeting => match self.role {
                Admin | Secretary | Auditor => true,
                Security => false,
                Chair | Participant | Venue => chairs || invited,
            },
            Permission::RunMeeting => matches!(self.role, Admin | Secretary) || chairs,
            Permission::ReadAttendance => matches!(self.role, Admin | Secretary | Auditor) || chairs,
            Permission::JoinLink => match self.role {
                Admin | Secretary => true,
                Auditor | Security => false,
                Chair | Participant | Venue => chairs || invited,
            },
            Permission::ReadAudit => self.role == Auditor,
            Permission::ReadRecordings => matches!(self.role, Admin | Secretary | Auditor) || chairs,
            Permission::DeleteRecordings => matches!(self.role, Admin | Secretary),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(role: AccountRole, id: &str, org: Option<&str>) -> Account {
        Account {
            id: id.into(),
            username: id.into(),
            display_name: id.into(),
            role,
            org_unit: org.map(Into::into),
            password_hash: String::new(),
            failed_logins: 0,
            locked_until: None,
            must_change_password: false,
            password_changed_at: None,
        }
    }

    /// The rows of the table "Who may do what" in docs/api.md, each a
    /// permission and its cells for admin, security, secretary, chair,
    /// participant / venue and auditor.
    fn table() -> Vec<(String, Vec<String>)> {
        let doc = include_str!("../../docs/api.md");
        let start = doc
            .find("| | admin | security | secretary | chair | participant / venue | auditor |")
            .expect("the table");
        doc[start..]
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                let cells: Vec<String> =
                    l.trim_matches('|').split('|').map(|c| c.trim().to_string()).collect();
                (cells[0].clone(), cells[1..].to_vec())
            })
            .collect()
    }

    fn permission_of(row: &str) -> Permission {
        match row {
            "organisation (import, move, retire)" => Permission::ManageOrg,
            "create accounts (not administrators)" => Permission::CreateAccounts,
            "roles, unlock, password reset, end sessions (not administrators)" => Permission::ManageAccounts,
            "list accounts" => Permission::ListAccounts,
            "create / edit / cancel meetings, series, templates, invitation links (and re-issue them)" => {
                Permission::Schedule
            }
            "read meetings (list, detail, ICS)" => Permission::ReadMeeting,
            "start / end a meeting" => Permission::RunMeeting,
            "attendance (JSON, CSV, XLSX)" => Permission::ReadAttendance,
            "own join link (`/join`)" => Permission::JoinLink,
            "audit log (read, filter, export, verify)" => Permission::ReadAudit,
            "recordings (list, download, play, compose)" => Permission::ReadRecordings,
            "delete a recording" => Permission::DeleteRecordings,
            other => panic!("docs/api.md has a row the code does not know: {other:?}"),
        }
    }

    /// What a cell of the table allows: for a meeting the account chairs, is
    /// invited to, or has nothing to do with.
    fn cell_allows(cell: &str, relation: &str) -> bool {
        match cell {
            "" => false,
            "✓" | "all" | "as 会务" => true,
            c if c.contains("chairs") || c.contains("chaired") || c == "as chair" => {
                relation == "chairs" || (c.contains("invited") && relation == "invited")
            }
            c if c.contains("invited") => relation == "invited",
            other => panic!("a cell the test cannot read: {other:?}"),
        }
    }

    #[test]
    fn the_documented_table_is_what_the_code_decides() {
        let rows = table();
        assert_eq!(rows.len(), 12, "every row of the table is checked");
        let at =
            chrono::NaiveDate::from_ymd_opt(2026, 12, 1).and_then(|d| d.and_hms_opt(9, 0, 0)).expect("date");
        let meeting = MeetingRecord {
            id: "m".into(),
            title: "m".into(),
            agenda: String::new(),
            start: at,
            end: at,
            chair: Some("the-chair".into()),
            open_before_min: 30,
            participants: vec!["v1".into(), "person1".into()],
            version: 1,
            series: None,
            started_at: None,
            ended_at: None,
            cancelled_at: None,
            record: false,
        };
        for (row, cells) in rows {
            let what = permission_of(&row);
            for (column, cell) in cells.iter().enumerate() {
                let roles: &[AccountRole] = match column {
                    0 => &[AccountRole::Admin],
                    1 => &[AccountRole::Security],
                    2 => &[AccountRole::Secretary],
                    3 => &[AccountRole::Chair],
                    4 => &[AccountRole::Participant, AccountRole::Venue],
                    _ => &[AccountRole::Auditor],
                };
                for &role in roles {
                    for relation in ["chairs", "invited", "stranger"] {
                        // Only a chair account can chair; anyone tied to an invited node is invited.
                        let (id, org) = match relation {
                            "chairs" if role == AccountRole::Chair => ("the-chair", None),
                            "invited" => ("someone", Some("v1")),
                            _ => ("someone", Some("elsewhere")),
                        };
                        let relation = if relation == "chairs" && role != AccountRole::Chair {
                            "stranger"
                        } else {
                            relation
                        };
                        let a = account(role, id, org);
                        let documented = cell_allows(cell, relation);
                        assert_eq!(
                            a.may(what, Some(&meeting)),
                            documented,
                            "{row} / {role:?} / {relation}: the code and docs/api.md disagree"
                        );
                    }
                }
            }
        }
    }
}
