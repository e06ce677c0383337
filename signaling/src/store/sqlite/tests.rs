use chrono::NaiveDate;

use super::*;
use crate::store::AccountRole;

struct TempDb {
    dir: std::path::PathBuf,
}

impl TempDb {
    fn new(tag: &str) -> TempDb {
        let dir = std::env::temp_dir().join(format!("huiyi-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDb { dir }
    }
    fn open(&self) -> SqliteStore {
        SqliteStore::open(&self.dir.join("huiyi.db")).expect("open")
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unit(id: &str, parent: Option<&str>, name: &str, kind: OrgKind) -> OrgUnit {
    OrgUnit { id: id.into(), parent: parent.map(Into::into), name: name.into(), kind }
}

fn county() -> Vec<OrgUnit> {
    vec![
        // Children before their parent: the import defers the parent check.
        unit("v-cgz", Some("t-cgz"), "城关镇会议室", OrgKind::Venue),
        unit("county", None, "某某县", OrgKind::County),
        unit("t-cgz", Some("county"), "城关镇", OrgKind::Township),
        unit("t-hx", Some("county"), "河西乡", OrgKind::Township),
        unit("v-hx", Some("t-hx"), "河西乡会议室", OrgKind::Venue),
    ]
}

fn at(d: u32, h: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 12, d).and_then(|x| x.and_hms_opt(h, 0, 0)).expect("valid")
}

fn meeting(id: &str) -> MeetingRecord {
    MeetingRecord {
        id: id.into(),
        title: "周例会".into(),
        agenda: "一、传达文件".into(),
        start: at(7, 9),
        end: at(7, 10),
        chair: None,
        open_before_min: 30,
        participants: vec!["v-cgz".into(), "v-hx".into()],
        version: 0,
        series: None,
        started_at: None,
        ended_at: None,
        cancelled_at: None,
    }
}

#[test]
fn everything_survives_a_restart() {
    let db = TempDb::new("restart");
    {
        let s = db.open();
        assert_eq!(s.import_org(&county()).expect("import"), 5);
        s.create_meeting(&meeting("m1"), None, 1).expect("meeting");
        s.audit(
            NewAudit { action: "meeting.create", target: Some("m1"), outcome: "ok", ..Default::default() },
            1,
        )
        .expect("audit");
    }
    let s = db.open(); // migrations are not applied twice
    assert_eq!(s.org_units().expect("tree").len(), 5);
    let m = s.meeting("m1").expect("meeting");
    assert_eq!(m.participants, vec!["v-cgz".to_string(), "v-hx".to_string()]);
    assert_eq!(m.version, 1);
    assert_eq!(s.audit_log(10).expect("log")[0].action, "meeting.create");
}

#[test]
fn a_bad_import_stores_nothing() {
    let db = TempDb::new("import");
    let s = db.open();
    let mut rows = county();
    rows.push(unit("v-x", Some("t-missing"), "无主会场", OrgKind::Venue));
    assert!(matches!(s.import_org(&rows), Err(StoreError::Invalid(_))));
    assert!(s.org_units().expect("tree").is_empty(), "all or nothing");
    let mut dup = county();
    dup.push(unit("t-hx", Some("county"), "重复", OrgKind::Township));
    assert!(matches!(s.import_org(&dup), Err(StoreError::Duplicate(_))));
    assert!(s.org_units().expect("tree").is_empty());
}

#[test]
fn two_secretaries_cannot_overwrite_each_other() {
    let db = TempDb::new("etag");
    let s = db.open();
    s.import_org(&county()).expect("import");
    let m = s.create_meeting(&meeting("m1"), None, 1).expect("meeting");
    let mut first = m.clone();
    first.title = "周例会（改）".into();
    let updated = s.update_meeting(&first, m.version).expect("first edit");
    assert_eq!(updated.version, 2);
    let mut second = m.clone();
    second.agenda = "另一个议程".into();
    assert_eq!(s.update_meeting(&second, m.version), Err(StoreError::Conflict { current: 2 }));
    assert_eq!(s.meeting("m1").expect("m1").title, "周例会（改）", "the first edit stands");
}

#[test]
fn invalid_meetings_leave_nothing_behind() {
    let db = TempDb::new("invalid");
    let s = db.open();
    s.import_org(&county()).expect("import");
    let mut bad = meeting("m1");
    bad.participants.push("nowhere".into());
    assert!(matches!(s.create_meeting(&bad, None, 1), Err(StoreError::Invalid(_))));
    assert!(matches!(s.meeting("m1"), Err(StoreError::NotFound(_))), "no half-stored meeting");
    let mut backwards = meeting("m2");
    backwards.end = backwards.start;
    assert!(matches!(s.create_meeting(&backwards, None, 1), Err(StoreError::Invalid(_))));
    s.create_meeting(&meeting("m3"), None, 1).expect("ok");
    assert!(matches!(s.create_meeting(&meeting("m3"), None, 1), Err(StoreError::Duplicate(_))));
    let week = s.meetings_between(at(7, 0), at(8, 0)).expect("list");
    assert_eq!(week.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), vec!["m3"]);
}

#[test]
fn accounts_are_unique_and_the_audit_log_is_append_only() {
    let db = TempDb::new("accounts");
    let s = db.open();
    let a = Account {
        id: "a1".into(),
        username: "admin".into(),
        display_name: "管理员".into(),
        role: AccountRole::Admin,
        org_unit: None,
        password_hash: "$argon2id$...".into(),
        failed_logins: 0,
        locked_until: None,
    };
    s.create_account(&a, 1).expect("create");
    assert!(matches!(
        s.create_account(&Account { id: "a2".into(), ..a.clone() }, 1),
        Err(StoreError::Duplicate(_))
    ));
    s.set_login_state("a1", 3, Some(99)).expect("state");
    let back = s.account_by_username("admin").expect("load");
    assert_eq!((back.failed_logins, back.locked_until, back.role), (3, Some(99), AccountRole::Admin));
    s.audit(NewAudit { action: "login", outcome: "ok", ..Default::default() }, 5).expect("audit");
    let edit = s.with(|c| Ok(c.execute("UPDATE audit_log SET outcome = 'tampered'", [])?));
    assert!(edit.is_err(), "the database itself refuses to edit the audit log");
    let delete = s.with(|c| Ok(c.execute("DELETE FROM audit_log", [])?));
    assert!(delete.is_err());
    assert_eq!(s.audit_log(10).expect("log")[0].outcome, "ok");
}

/// Issue 11, finding 8: a self-parent or a longer cycle is refused, in the
/// same transaction, and the tree stays as it was.
#[test]
fn org_imports_with_a_cycle_are_refused_whole() {
    let db = TempDb::new("org-cycle");
    let store = db.open();
    store.import_org(&county()).expect("a tree");
    let selfish = [unit("x", Some("x"), "自己", OrgKind::Department)];
    let err = store.import_org(&selfish).expect_err("a self-parent");
    assert!(matches!(&err, StoreError::Invalid(m) if m.contains("\"x\"")), "{err:?}");
    let ring = [
        unit("a", Some("c"), "甲", OrgKind::Department),
        unit("b", Some("a"), "乙", OrgKind::Department),
        unit("c", Some("b"), "丙", OrgKind::Department),
        unit("d", Some("county"), "丁", OrgKind::Department),
    ];
    assert!(matches!(store.import_org(&ring), Err(StoreError::Invalid(_))), "a three-unit cycle");
    let ids: Vec<String> = store.org_units().expect("units").into_iter().map(|u| u.id).collect();
    assert_eq!(ids.len(), 5, "nothing of either file was stored: {ids:?}");
    // A deep, acyclic chain is fine.
    let chain: Vec<OrgUnit> = (0..200)
        .map(|i| {
            let parent = if i == 0 { "county".to_string() } else { format!("n{}", i - 1) };
            unit(&format!("n{i}"), Some(&parent), "层", OrgKind::Department)
        })
        .collect();
    assert_eq!(store.import_org(&chain).expect("a chain"), 200);
}
