//! Invitations of a scheduled meeting: who holds a seat (the venues and
//! persons it invites, its chair, the secretary's staff), what a personal
//! join link grants, and whether a link's holder is still invited — the
//! same rules for the links handed out and for the joins they make. Pure,
//! but for reading the accounts in [`still_invited`].

use crate::scheduling::unix_from_local;
use crate::store::{Account, AccountRole, MeetingRecord, OrgKind, OrgUnit, Store, StoreError};
use crate::token::{Claims, Role};

/// Participant ids of staff seats (the secretary's, the chair's) are the
/// account id behind this prefix; the others are organisation-tree ids.
const STAFF: &str = "staff-";

/// One invited venue or person and what its link grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitee {
    /// The venue's or person's node.
    pub unit: OrgUnit,
    /// The claims its personal link carries.
    pub claims: Claims,
}

/// Everyone `meeting` invites from `org`, in the meeting's order, each
/// link at its epoch (`epoch_of` a participant id: 0 until re-issued).
pub fn invitees(
    meeting: &MeetingRecord,
    org: &[OrgUnit],
    grace_mins: u32,
    epoch_of: impl Fn(&str) -> u64,
) -> Vec<Invitee> {
    meeting
        .participants
        .iter()
        .filter_map(|pid| org.iter().find(|u| &u.id == pid))
        .map(|unit| {
            let role = if unit.kind == OrgKind::Venue { Role::Venue } else { Role::Participant };
            let mut claims = link_claims(meeting, &unit.id, &unit.name, role, grace_mins);
            claims.e = epoch_of(&unit.id);
            Invitee { unit: unit.clone(), claims }
        })
        .collect()
}

/// The seat `account` takes in `meeting` with its own link: the secretary
/// and admins as the secretary (会务), the meeting's chair as chair, an
/// invited venue or person as itself; `None` if it has none.
pub fn own_link(account: &Account, meeting: &MeetingRecord, grace_mins: u32) -> Option<Claims> {
    let invited = account.org_unit.as_ref().filter(|u| meeting.participants.contains(u));
    let (pid, role) = match (account.role, invited) {
        (AccountRole::Admin | AccountRole::Secretary, _) => {
            (format!("{STAFF}{}", account.id), Role::Secretary)
        }
        _ if meeting.chair.as_deref() == Some(account.id.as_str()) => {
            (format!("{STAFF}{}", account.id), Role::Chair)
        }
        (AccountRole::Venue, Some(unit)) => (unit.clone(), Role::Venue),
        (_, Some(unit)) => (unit.clone(), Role::Participant),
        _ => return None,
    };
    Some(link_claims(meeting, &pid, &account.display_name, role, grace_mins))
}

/// Whether the holder of a link for seat `pid` as `role` is still invited
/// to `meeting` (links are revoked by editing the meeting or the account).
pub fn still_invited(
    store: &dyn Store,
    meeting: &MeetingRecord,
    pid: &str,
    role: Role,
) -> Result<bool, StoreError> {
    Ok(match (pid.strip_prefix(STAFF), role) {
        (Some(account), Role::Chair) => meeting.chair.as_deref() == Some(account),
        (Some(account), Role::Secretary) => match store.account_by_id(account) {
            Ok(a) => matches!(a.role, AccountRole::Admin | AccountRole::Secretary),
            Err(StoreError::NotFound(_)) => false,
            Err(e) => return Err(e),
        },
        _ => meeting.participants.iter().any(|p| p == pid),
    })
}

/// The claims of a personal join link to `meeting`: valid from its join
/// window (`open_before_min` before the start) until the server ends it
/// (the planned end plus the grace).
pub fn link_claims(meeting: &MeetingRecord, pid: &str, name: &str, role: Role, grace_mins: u32) -> Claims {
    let nbf = unix_from_local(meeting.start) - meeting.open_before_min * 60;
    let exp = unix_from_local(meeting.end) + i64::from(grace_mins) * 60;
    Claims {
        m: meeting.id.clone(),
        t: meeting.title.clone(),
        p: pid.to_string(),
        n: name.to_string(),
        r: role,
        nbf: nbf.max(0) as u64,
        exp: exp.max(0) as u64,
        e: 0,
    }
}
