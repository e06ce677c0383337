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
        record: false,
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
        must_change_password: true,
        password_changed_at: None,
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

fn account(id: &str, username: &str) -> Account {
    Account {
        id: id.into(),
        username: username.into(),
        display_name: username.into(),
        role: AccountRole::Secretary,
        org_unit: None,
        password_hash: "h0".into(),
        failed_logins: 0,
        locked_until: None,
        must_change_password: false,
        password_changed_at: None,
    }
}

/// Issue 11 (tamper-evident audit): the chain verifies, and a record
/// changed or removed behind the triggers' back (someone with the file)
/// is found, at that record.
#[test]
fn the_audit_chain_finds_a_changed_or_removed_record() {
    let db = TempDb::new("chain");
    let s = db.open();
    for i in 0..5 {
        let detail = format!("record {i}");
        s.audit(NewAudit { action: "login", detail: &detail, outcome: "ok", ..Default::default() }, 10 + i)
            .expect("audit");
    }
    let report = s.audit_verify().expect("verify");
    assert_eq!((report.records, report.broken_at, report.head_seq), (5, None, Some(5)));
    assert_eq!(report.head_hash.as_ref().map(String::len), Some(64));
    // A record is bounded whatever it was given.
    let huge = "x".repeat(100_000);
    s.audit(
        NewAudit { action: "login", target: Some(&huge), detail: &huge, outcome: "ok", ..Default::default() },
        20,
    )
    .expect("audit");
    let newest = &s.audit_log(1).expect("log")[0];
    assert!(
        newest.detail.chars().count() <= 2000
            && newest.target.as_ref().is_some_and(|t| t.chars().count() <= 256)
    );
    // Bypass the triggers and change record 3.
    s.with(|c| {
        c.execute_batch(
            "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET detail = 'nothing happened' WHERE seq = 3;",
        )?;
        Ok(())
    })
    .expect("tamper");
    assert_eq!(s.audit_verify().expect("verify").broken_at, Some(3));
    // Or remove record 2 (and fix record 3 back): found at 3 all the same.
    let db2 = TempDb::new("chain-delete");
    let s2 = db2.open();
    for i in 0..4 {
        s2.audit(NewAudit { action: "login", outcome: "ok", ..Default::default() }, i).expect("audit");
    }
    s2.with(|c| {
        Ok(c.execute_batch("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 2;")?)
    })
    .expect("tamper");
    assert_eq!(s2.audit_verify().expect("verify").broken_at, Some(3));
}

/// Issue 11 (every write and its audit in one transaction): when the
/// operation fails, neither it nor its record is stored; when it succeeds,
/// both are.
#[test]
fn a_write_and_its_audit_record_are_one_transaction() {
    let db = TempDb::new("audited");
    let s = db.open();
    s.import_org(&county()).expect("org");
    let failed = s.audited(1, &mut |s| {
        s.create_account(&account("a1", "zhang"), 1)?;
        s.move_org_unit("county", Some("v-cgz"), "某某县")?; // a cycle: refused
        Ok(NewAudit { action: "never", outcome: "ok", ..Default::default() }.owned())
    });
    assert!(matches!(failed, Err(StoreError::Invalid(_))), "{failed:?}");
    assert!(matches!(s.account_by_username("zhang"), Err(StoreError::NotFound(_))), "rolled back");
    assert!(s.audit_log(10).expect("log").is_empty());
    s.audited(2, &mut |s| {
        s.create_account(&account("a1", "zhang"), 2)?;
        Ok(NewAudit { action: "account.create", outcome: "ok", ..Default::default() }.owned())
    })
    .expect("stored");
    assert!(s.account_by_username("zhang").is_ok());
    assert_eq!(s.audit_log(10).expect("log")[0].action, "account.create");
    assert_eq!(s.audit_verify().expect("verify").broken_at, None);
}

/// Issue 11: sessions end when idle or old, an account holds at most
/// `max`, and a password change keeps the history and ends the others.
#[test]
fn sessions_and_password_history() {
    let db = TempDb::new("sessions");
    let s = db.open();
    s.create_account(&account("a1", "zhang"), 0).expect("account");
    for (i, t) in ["t1", "t2", "t3", "t4"].iter().enumerate() {
        s.create_session(t, "a1", 100 + i as i64, 10_000, 3).expect("session");
    }
    assert!(s.session_account("t1", 200, 1800).is_err(), "the oldest ended for the fourth");
    assert!(s.session_account("t4", 200, 1800).is_ok());
    assert!(s.session_account("t2", 2000, 1800).is_err(), "idle for 30 minutes");
    assert!(s.session_account("t4", 10_000, 1_000_000).is_err(), "expired");
    for (i, h) in ["h1", "h2", "h3"].iter().enumerate() {
        let set =
            PasswordSet { hash: h, keep_session: "t3", now: 300 + i as i64, must_change: false, history: 2 };
        s.set_password("a1", &set).expect("password");
    }
    assert_eq!(s.password_history("a1").expect("history"), vec!["h2".to_string(), "h1".to_string()]);
    let a = s.account_by_id("a1").expect("account");
    assert_eq!(
        (a.password_hash.as_str(), a.password_changed_at, a.must_change_password),
        ("h3", Some(302), false)
    );
    assert!(s.session_account("t3", 302, 1800).is_ok(), "the changing session stays");
    assert_eq!(s.end_sessions("a1").expect("end"), 1);
}

/// Issue 11 (finding 8): units move and retire; a move that makes a cycle
/// and the retirement of a unit still in use are refused.
#[test]
fn units_move_and_retire_with_their_references_checked() {
    let db = TempDb::new("org-move");
    let s = db.open();
    s.import_org(&county()).expect("org");
    s.move_org_unit("v-hx", Some("t-cgz"), "河西乡会议室（新）").expect("move");
    assert!(matches!(s.move_org_unit("t-cgz", Some("v-hx"), "城关镇"), Err(StoreError::Invalid(_))));
    assert!(matches!(s.move_org_unit("t-cgz", Some("nope"), "城关镇"), Err(StoreError::Invalid(_))));
    let at = NaiveDate::from_ymd_opt(2026, 12, 1).and_then(|d| d.and_hms_opt(9, 0, 0)).expect("date");
    let meeting = MeetingRecord {
        id: "m1".into(),
        title: "周例会".into(),
        agenda: String::new(),
        start: at,
        end: at + chrono::Duration::hours(1),
        chair: None,
        open_before_min: 30,
        participants: vec!["v-cgz".into()],
        version: 0,
        series: None,
        started_at: None,
        ended_at: None,
        cancelled_at: None,
        record: false,
    };
    s.create_meeting(&meeting, None, 1).expect("meeting");
    let before = at - chrono::Duration::days(1);
    assert!(
        matches!(s.retire_org_unit("t-cgz", before, 5), Err(StoreError::Invalid(_))),
        "has units under it"
    );
    assert!(matches!(s.retire_org_unit("v-cgz", before, 5), Err(StoreError::Invalid(_))), "invited to m1");
    // After the meeting, the venue retires; the meeting keeps its name.
    let after = at + chrono::Duration::days(1);
    s.retire_org_unit("v-cgz", after, 5).expect("retire");
    assert!(!s.org_units().expect("tree").iter().any(|u| u.id == "v-cgz"));
    assert!(s.all_org_units().expect("all").iter().any(|u| u.id == "v-cgz"));
    // Link epochs.
    assert_eq!(s.link_epoch("m1", "v-cgz").expect("epoch"), 0);
    assert_eq!(s.bump_link_epoch("m1", "v-cgz").expect("bump"), 1);
    assert_eq!(s.bump_link_epoch("m1", "v-cgz").expect("bump"), 2);
}

/// A database of version 7 (before issue 11) migrates with everything in
/// it: accounts keep their sessions and meetings their chair, and the old
/// audit records join the chain.
#[test]
fn a_version_7_database_migrates_with_its_data() {
    let db = TempDb::new("migrate7");
    std::fs::create_dir_all(&db.dir).expect("dir");
    {
        let mut c = Connection::open(db.dir.join("huiyi.db")).expect("open");
        c.pragma_update(None, "foreign_keys", "ON").expect("fk");
        for (i, sql) in MIGRATIONS[..7].iter().enumerate() {
            let tx = c.transaction().expect("tx");
            tx.execute_batch(sql).expect("migration");
            tx.pragma_update(None, "user_version", (i + 1) as i64).expect("version");
            tx.commit().expect("commit");
        }
        c.execute_batch(
            "INSERT INTO accounts (id, username, display_name, role, password_hash, created_at)
                 VALUES ('a1', 'chair1', '张县长', 'chair', 'h', 7);
             INSERT INTO sessions (token_hash, account, created_at, expires_at) VALUES ('t1', 'a1', 7, 99999999999);
             INSERT INTO meetings (id, title, start_local, end_local, chair, created_at)
                 VALUES ('m1', '周例会', '2026-12-01T09:00:00', '2026-12-01T10:00:00', 'a1', 7);
             INSERT INTO audit_log (at, action, outcome) VALUES (7, 'login', 'ok');
             INSERT INTO audit_log (at, action, outcome) VALUES (8, 'meeting.create', 'ok');",
        )
        .expect("data");
    }
    let s = db.open();
    let a = s.account_by_username("chair1").expect("account kept");
    assert_eq!((a.role, a.must_change_password), (AccountRole::Chair, false));
    let upgraded = a.password_changed_at.expect("set");
    assert!(upgraded > 1_700_000_000, "the password's age starts at the upgrade: {upgraded}");
    assert_eq!(s.session_account("t1", upgraded + 60, 1800).expect("session kept").id, "a1");
    assert_eq!(s.meeting("m1").expect("meeting").chair.as_deref(), Some("a1"));
    let report = s.audit_verify().expect("verify");
    assert_eq!((report.records, report.broken_at), (2, None));
    s.create_account(&Account { role: AccountRole::Security, ..account("a2", "sec") }, 9).expect("new role");
}
