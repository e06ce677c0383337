//! The rest of the scheduling module over real HTTP and WebSocket: who may
//! do what (each role), accounts for venue terminals, the lifecycle by hand
//! and by the clock (a live meeting is ended at its time), templates, the
//! XLSX attendance workbook with the roll calls, and calendar feeds.

mod common;

use std::io::Read;
use std::time::Duration;

use common::http::*;
use common::{close_code, control, hello, recv, recv_type, send_msg};
use huiyi_protocol::Control;
use huiyi_signaling::store::{AccountRole, RollCallLine, RollCallRecord, SqliteStore, Store};
use serde_json::{json, Value};

fn local(secs: i64) -> String {
    huiyi_signaling::scheduling::local_from_unix(secs).expect("time").format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn now() -> i64 {
    (huiyi_signaling::clock::unix_millis() / 1000) as i64
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("huiyi-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

const ORG: &str = "id,parent,name,kind\ncounty,,某某县,县\nt1,county,城关镇,乡镇\nv1,t1,城关镇会议室,会场\nv2,county,河西乡会议室,会场\np1,county,李四,人员\n";

/// Seeds admin, secretary, chair and auditor; imports the org tree; the
/// admin creates a venue terminal account for v1 and a person account for p1.
async fn setup(addr: std::net::SocketAddr) -> [String; 6] {
    let admin = login(addr, "admin1", "admin-password").await;
    assert_eq!(request(addr, "POST", "/api/v1/org/import", ORG, Some(&admin)).await.status, 200);
    for (user, name, role, unit) in
        [("v1term", "城关镇终端", "venue", "v1"), ("lisi", "李四", "participant", "p1")]
    {
        let body = json!({"username": user, "display_name": name, "role": role, "org_unit": unit, "password": "Given-Pass-2026"});
        let r = request(addr, "POST", "/api/v1/accounts", &body.to_string(), Some(&admin)).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        first_login(addr, user, "Given-Pass-2026", "A-long-password-1").await;
    }
    let bad = json!({"username": "x", "display_name": "x", "role": "venue", "org_unit": "nowhere", "password": "a-long-password"});
    assert_eq!(request(addr, "POST", "/api/v1/accounts", &bad.to_string(), Some(&admin)).await.status, 422);
    let short = json!({"username": "y", "display_name": "y", "role": "venue", "password": "short"});
    assert_eq!(request(addr, "POST", "/api/v1/accounts", &short.to_string(), Some(&admin)).await.status, 422);
    [
        admin,
        login(addr, "sec1", "sec-password").await,
        login(addr, "chair1", "chair-password").await,
        login(addr, "aud1", "aud-password").await,
        login(addr, "v1term", "A-long-password-1").await,
        login(addr, "lisi", "A-long-password-1").await,
    ]
}

fn seed(dir: &std::path::Path) {
    seed_accounts(
        dir,
        &[
            ("admin1", "管理员", AccountRole::Admin, "admin-password"),
            ("sec1", "会务一", AccountRole::Secretary, "sec-password"),
            ("chair1", "张县长", AccountRole::Chair, "chair-password"),
            ("aud1", "审计员", AccountRole::Auditor, "aud-password"),
            ("security1", "安全员", AccountRole::Security, "security-password"),
        ],
    );
}

async fn chair_id(addr: std::net::SocketAddr, sec: &str) -> String {
    let chairs = request(addr, "GET", "/api/v1/accounts?role=chair", "", Some(sec)).await;
    assert_eq!(chairs.body.as_array().map(Vec::len), Some(1), "{:?}", chairs.body);
    chairs.body[0]["id"].as_str().expect("id").to_string()
}

async fn create(addr: std::net::SocketAddr, sec: &str, body: Value) -> Value {
    let r = request(addr, "POST", "/api/v1/meetings", &body.to_string(), Some(sec)).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body
}

#[tokio::test]
async fn each_role_sees_and_does_only_its_part() {
    let dir = temp_dir("roles");
    seed(&dir);
    let server = Running::start(&dir).await;
    let addr = server.addr;
    let [admin, sec, chair, aud, venue, person] = setup(addr).await;
    let chair_account = chair_id(addr, &sec).await;
    let n = now();
    let m = create(addr, &sec, json!({"title": "防汛调度会", "start": local(n + 3600), "end": local(n + 7200), "chair": chair_account, "participants": ["v1"]})).await;
    let other = create(addr, &sec, json!({"title": "河西乡专题会", "start": local(n + 3600), "end": local(n + 7200), "participants": ["v2"]})).await;
    let (id, other_id) = (m["id"].as_str().expect("id"), other["id"].as_str().expect("id"));
    assert_eq!(m["status"], "scheduled");

    let get = |path: String, who: &str| {
        let who = who.to_string();
        async move { request(addr, "GET", &path, "", Some(&who)).await }
    };
    // Reading meetings: the venue and the chair see theirs, not the other.
    for (who, expect_mine, expect_other) in
        [(&venue, 200, 403), (&chair, 200, 403), (&person, 403, 403), (&aud, 200, 200), (&sec, 200, 200)]
    {
        assert_eq!(get(format!("/api/v1/meetings/{id}"), who).await.status, expect_mine);
        assert_eq!(get(format!("/api/v1/meetings/{other_id}"), who).await.status, expect_other);
    }
    let range = format!("/api/v1/meetings?from={}&to={}", local(n), local(n + 86400));
    assert_eq!(get(range.clone(), &venue).await.body.as_array().map(Vec::len), Some(1));
    assert_eq!(get(range, &sec).await.body.as_array().map(Vec::len), Some(2));

    // Secretary's tools are refused to everyone else (the admin may).
    for who in [&venue, &chair, &person, &aud] {
        assert_eq!(get(format!("/api/v1/meetings/{id}/invitations"), who).await.status, 403);
        assert_eq!(get("/api/v1/templates".into(), who).await.status, 403);
        assert_eq!(get("/api/v1/accounts".into(), who).await.status, 403);
        let body = json!({"title": "x", "start": local(n + 3600), "end": local(n + 7200)}).to_string();
        assert_eq!(request(addr, "POST", "/api/v1/meetings", &body, Some(who)).await.status, 403);
        let cancel = request(addr, "POST", &format!("/api/v1/meetings/{id}/cancel"), "", Some(who)).await;
        assert_eq!(cancel.status, 403);
    }
    assert_eq!(get(format!("/api/v1/meetings/{id}/invitations"), &admin).await.status, 200);
    // Attendance: the chair of this meeting and the auditor, not venues.
    assert_eq!(get(format!("/api/v1/meetings/{id}/attendance"), &chair).await.status, 200);
    assert_eq!(get(format!("/api/v1/meetings/{id}/attendance"), &aud).await.status, 200);
    assert_eq!(get(format!("/api/v1/meetings/{other_id}/attendance"), &chair).await.status, 403);
    assert_eq!(get(format!("/api/v1/meetings/{id}/attendance"), &venue).await.status, 403);
    // Only the admin manages accounts; the audit log is the auditor's.
    let body = json!({"username": "z1", "display_name": "z", "role": "admin", "password": "a-long-password"});
    assert_eq!(request(addr, "POST", "/api/v1/accounts", &body.to_string(), Some(&sec)).await.status, 403);
    assert_eq!(get("/api/v1/audit".into(), &sec).await.status, 403);

    // Own join links: the secretary as 会务, the chair as chair, the venue as itself.
    for (who, role) in [(&sec, "secretary"), (&chair, "chair"), (&venue, "venue")] {
        let r = get(format!("/api/v1/meetings/{id}/join"), who).await;
        assert_eq!((r.status, r.body["role"].as_str()), (200, Some(role)), "{:?}", r.body);
    }
    assert_eq!(get(format!("/api/v1/meetings/{id}/join"), &person).await.status, 403);

    // A permission change (the security administrator's) is recorded with
    // the old and the new role.
    let security = login(addr, "security1", "security-password").await;
    let lisi = request(addr, "GET", "/api/v1/accounts?role=participant", "", Some(&admin)).await.body[0]
        ["id"]
        .as_str()
        .expect("id")
        .to_string();
    let change = request(
        addr,
        "POST",
        &format!("/api/v1/accounts/{lisi}/role"),
        r#"{"role":"chair"}"#,
        Some(&security),
    )
    .await;
    assert_eq!(change.status, 204);
    let bad_role = request(
        addr,
        "POST",
        &format!("/api/v1/accounts/{lisi}/role"),
        r#"{"role":"king"}"#,
        Some(&security),
    )
    .await;
    assert_eq!(bad_role.status, 400);
    let log = get("/api/v1/audit".into(), &aud).await;
    let entry = log.body["entries"]
        .as_array()
        .expect("log")
        .iter()
        .find(|e| e["action"] == "account.role")
        .expect("recorded")
        .clone();
    assert_eq!(
        (entry["target"].as_str(), entry["detail"].as_str()),
        (Some("lisi"), Some("participant → chair"))
    );

    // Changing one's password: the old one is checked, the policy holds
    // (length, three kinds of character, not a recent one), other sessions end.
    let elsewhere = login(addr, "lisi", "A-long-password-1").await;
    let change = |body: Value| {
        let person = person.clone();
        async move { request(addr, "POST", "/api/v1/me/password", &body.to_string(), Some(&person)).await.status }
    };
    assert_eq!(change(json!({"old": "Wrong-password-1", "new": "Another-long-one-2"})).await, 403);
    assert_eq!(change(json!({"old": "A-long-password-1", "new": "Sh0rt!"})).await, 422);
    assert_eq!(
        change(json!({"old": "A-long-password-1", "new": "another-long-one"})).await,
        422,
        "two kinds"
    );
    assert_eq!(change(json!({"old": "A-long-password-1", "new": "A-long-password-1"})).await, 422, "reused");
    assert_eq!(
        change(json!({"old": "A-long-password-1", "new": "Given-Pass-2026"})).await,
        422,
        "a recent one"
    );
    assert_eq!(change(json!({"old": "A-long-password-1", "new": "Another-long-one-2"})).await, 204);
    assert_eq!(get("/api/v1/me".into(), &person).await.status, 200, "this session goes on");
    assert_eq!(get("/api/v1/me".into(), &elsewhere).await.status, 401, "the other session ended");
    let old_pw = json!({"username": "lisi", "password": "A-long-password-1"}).to_string();
    assert_eq!(request(addr, "POST", "/api/v1/login", &old_pw, None).await.status, 401);
    let new_pw = json!({"username": "lisi", "password": "Another-long-one-2"}).to_string();
    assert_eq!(request(addr, "POST", "/api/v1/login", &new_pw, None).await.status, 200);

    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_lifecycle_by_hand_and_by_the_clock() {
    let dir = temp_dir("lifecycle");
    seed(&dir);
    // No grace: a meeting ends at its planned end.
    let server = Running::start_with(&dir, |c| c.signaling.end_grace_mins = 0).await;
    let addr = server.addr;
    let [_admin, sec, chair, _aud, venue, _person] = setup(addr).await;
    let chair_account = chair_id(addr, &sec).await;
    let n = now();
    let post = |path: String, who: &str| {
        let who = who.to_string();
        async move { request(addr, "POST", &path, "", Some(&who)).await }
    };
    let link_of = |body: &Value| {
        body["link"].as_str().expect("link").split("token=").nth(1).expect("token").to_string()
    };
    let ws_target = common::Server::at(addr);

    // 1. Open (join window), started by the chair, joined, ended by the secretary.
    let m = create(addr, &sec, json!({"title": "常务会", "start": local(n + 600), "end": local(n + 4200), "chair": chair_account, "participants": ["v1"]})).await;
    let id = m["id"].as_str().expect("id").to_string();
    assert_eq!(m["status"], "open");
    let started = post(format!("/api/v1/meetings/{id}/start"), &chair).await;
    assert_eq!(
        (started.status, started.body["status"].as_str()),
        (200, Some("in_progress")),
        "{:?}",
        started.body
    );
    assert_eq!(header_value(&started.headers, "etag").as_deref(), Some("\"v2\""), "a new version");
    assert_eq!(
        post(format!("/api/v1/meetings/{id}/cancel"), &chair).await.status,
        403,
        "cancelling is the secretary's"
    );
    let token =
        link_of(&request(addr, "GET", &format!("/api/v1/meetings/{id}/join"), "", Some(&venue)).await.body);
    let mut ws = common::connect(&ws_target, None).await.expect("upgrade");
    send_msg(&mut ws, &hello(&token)).await;
    recv_type(&mut ws, "welcome").await;
    let ended = post(format!("/api/v1/meetings/{id}/end"), &sec).await;
    assert_eq!((ended.status, ended.body["status"].as_str()), (200, Some("ended")));
    assert_eq!(close_code(&mut ws).await, Some(4002), "the live meeting is closed for everyone");
    let again = post(format!("/api/v1/meetings/{id}/start"), &sec).await;
    assert_eq!(again.status, 422, "an ended meeting cannot start again");
    let edit = json!({"title": "常务会", "start": local(n + 600), "end": local(n + 4200)}).to_string();
    let v = header_value(&ended.headers, "etag").expect("etag");
    let refused_edit = request_with(
        addr,
        "PUT",
        &format!("/api/v1/meetings/{id}"),
        &edit,
        Some(&sec),
        &format!("If-Match: {v}\r\n"),
    )
    .await;
    assert_eq!(refused_edit.status, 422, "an ended meeting is not edited back to life");
    assert!(again.body["error"]["message"].as_str().is_some_and(|m| m.contains("ended")));
    // The link is still within its validity, but the meeting is over.
    let mut ws = common::connect(&ws_target, None).await.expect("upgrade");
    send_msg(&mut ws, &hello(&token)).await;
    let refused = recv(&mut ws).await.expect("error");
    assert_eq!((refused["type"].as_str(), refused["code"].as_str()), (Some("error"), Some("meeting_closed")));

    // 1b. The chair ends a meeting from inside: the record says ended, rejoining is refused.
    let m = create(addr, &sec, json!({"title": "专题会", "start": local(n + 600), "end": local(n + 4200), "chair": chair_account, "participants": ["v1"]})).await;
    let id = m["id"].as_str().expect("id").to_string();
    let chair_token =
        link_of(&request(addr, "GET", &format!("/api/v1/meetings/{id}/join"), "", Some(&chair)).await.body);
    let mut ws = common::connect(&ws_target, None).await.expect("upgrade");
    send_msg(&mut ws, &hello(&chair_token)).await;
    recv_type(&mut ws, "welcome").await;
    send_msg(&mut ws, &control(Control::EndMeeting)).await;
    assert_eq!(close_code(&mut ws).await, Some(4002));
    let mut ended = Value::Null;
    for _ in 0..50 {
        ended = request(addr, "GET", &format!("/api/v1/meetings/{id}"), "", Some(&sec)).await.body;
        if ended["status"] == "ended" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ended["status"], "ended", "{ended:?}");
    let mut ws = common::connect(&ws_target, None).await.expect("upgrade");
    send_msg(&mut ws, &hello(&chair_token)).await;
    assert_eq!(recv(&mut ws).await.expect("error")["code"], "meeting_closed");

    // 2. Cancelled: joins refused, the calendar entry says so.
    let m = create(
        addr,
        &sec,
        json!({"title": "临时会", "start": local(n + 600), "end": local(n + 1800), "participants": ["v1"]}),
    )
    .await;
    let id = m["id"].as_str().expect("id").to_string();
    let cancelled = post(format!("/api/v1/meetings/{id}/cancel"), &sec).await;
    assert_eq!((cancelled.status, cancelled.body["status"].as_str()), (200, Some("cancelled")));
    assert_eq!(post(format!("/api/v1/meetings/{id}/cancel"), &sec).await.status, 422);
    let ics = request(addr, "GET", &format!("/api/v1/meetings/{id}/calendar.ics"), "", Some(&sec)).await;
    assert!(ics.text.contains("STATUS:CANCELLED"), "{}", ics.text);
    let token =
        link_of(&request(addr, "GET", &format!("/api/v1/meetings/{id}/join"), "", Some(&venue)).await.body);
    let mut ws = common::connect(&ws_target, None).await.expect("upgrade");
    send_msg(&mut ws, &hello(&token)).await;
    assert_eq!(recv(&mut ws).await.expect("error")["code"], "meeting_closed");

    // 3. One occurrence of a weekly series cancelled after creation; the others stay.
    let series = json!({"meeting": {"title": "周例会", "start": "2027-03-01T09:00:00", "end": "2027-03-01T10:00:00", "participants": ["v1"]}, "rule": {"freq": "weekly", "weekdays": ["Mon"], "end": {"count": 3}}});
    let s = request(addr, "POST", "/api/v1/series", &series.to_string(), Some(&sec)).await;
    let occurrences = s.body["meetings"].as_array().expect("occurrences").clone();
    let second = occurrences[1]["id"].as_str().expect("id");
    assert_eq!(post(format!("/api/v1/meetings/{second}/cancel"), &sec).await.status, 200);
    let sid = s.body["series"].as_str().expect("series");
    let now_series = request(addr, "GET", &format!("/api/v1/series/{sid}"), "", Some(&sec)).await;
    let statuses: Vec<&str> = now_series.body["meetings"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|m| m["status"].as_str())
        .collect();
    assert_eq!(statuses, ["scheduled", "cancelled", "scheduled"]);

    // 4. By the clock: a running meeting is ended by the server at its planned end.
    let m = create(
        addr,
        &sec,
        json!({"title": "短会", "start": local(n - 60), "end": local(n + 3), "participants": ["v1"]}),
    )
    .await;
    assert_eq!(m["status"], "in_progress");
    let id = m["id"].as_str().expect("id").to_string();
    let token =
        link_of(&request(addr, "GET", &format!("/api/v1/meetings/{id}/join"), "", Some(&venue)).await.body);
    let mut ws = common::connect(&ws_target, None).await.expect("upgrade");
    send_msg(&mut ws, &hello(&token)).await;
    recv_type(&mut ws, "welcome").await;
    let code =
        tokio::time::timeout(Duration::from_secs(15), close_code(&mut ws)).await.expect("ended in time");
    assert_eq!(code, Some(4002));
    let read = request(addr, "GET", &format!("/api/v1/meetings/{id}"), "", Some(&sec)).await;
    assert_eq!(read.body["status"], "ended");
    let att = request(addr, "GET", &format!("/api/v1/meetings/{id}/attendance"), "", Some(&sec)).await;
    assert_eq!(att.body["participants"][0]["status"], "left", "its leave is on record");

    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

fn unzip(bytes: &[u8], name: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("an XLSX is a zip");
    let mut out = String::new();
    zip.by_name(name).expect(name).read_to_string(&mut out).expect("utf-8");
    out
}

#[tokio::test]
async fn templates_workbook_and_calendar_feeds() {
    let dir = temp_dir("exports");
    seed(&dir);
    let server = Running::start(&dir).await;
    let addr = server.addr;
    let [_admin, sec, _chair, _aud, venue, person] = setup(addr).await;

    // Templates: stored, listed, names unique, venues checked, deleted.
    let t = json!({"name": "每周例会（乡镇）", "title": "周例会", "participants": ["v1", "v2"], "duration_min": 90});
    let created = request(addr, "POST", "/api/v1/templates", &t.to_string(), Some(&sec)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["open_before_min"], 30);
    assert_eq!(request(addr, "POST", "/api/v1/templates", &t.to_string(), Some(&sec)).await.status, 409);
    let unknown = json!({"name": "x", "title": "x", "participants": ["nowhere"], "duration_min": 60});
    assert_eq!(
        request(addr, "POST", "/api/v1/templates", &unknown.to_string(), Some(&sec)).await.status,
        422
    );
    let zero = json!({"name": "y", "title": "y", "duration_min": 0});
    assert_eq!(request(addr, "POST", "/api/v1/templates", &zero.to_string(), Some(&sec)).await.status, 422);
    let list = request(addr, "GET", "/api/v1/templates", "", Some(&sec)).await;
    assert_eq!(list.body.as_array().map(Vec::len), Some(1));
    assert_eq!(list.body[0]["participants"], json!(["v1", "v2"]));
    let tid = created.body["id"].as_str().expect("id");
    let path = format!("/api/v1/templates/{tid}");
    assert_eq!(request(addr, "DELETE", &path, "", Some(&sec)).await.status, 204);
    assert_eq!(request(addr, "DELETE", &path, "", Some(&sec)).await.status, 404);

    // The workbook: the attendance sheet and the meeting's roll calls.
    let n = now();
    let m = create(addr, &sec, json!({"title": "安全生产会", "start": local(n + 600), "end": local(n + 4200), "participants": ["v1", "v2"]})).await;
    let id = m["id"].as_str().expect("id").to_string();
    // Roll calls are kept in the server's database (ours and another meeting's).
    let store = SqliteStore::open(&dir.join("huiyi.db")).expect("the server's database");
    let line =
        |participant: &str, name: &str, status: &str, called: i64, answered: Option<i64>| RollCallLine {
            participant: participant.into(),
            name: name.into(),
            status: status.into(),
            called_at_ms: Some(called),
            answered_at_ms: answered,
        };
    store
        .record_roll_call(&RollCallRecord {
            meeting: "another".into(),
            title: String::new(),
            started_at_ms: n * 1000,
            auto: false,
            entries: vec![line("x", "别的会场", "answered", n * 1000, None)],
        })
        .expect("another meeting's roll call");
    store
        .record_roll_call(&RollCallRecord {
            meeting: id.clone(),
            title: "安全生产会".into(),
            started_at_ms: n * 1000,
            auto: false,
            entries: vec![
                line("v1", "城关镇会议室", "answered", n * 1000, Some(n * 1000 + 4000)),
                line("v2", "河西乡会议室", "not_joined", n * 1000 + 5000, None),
            ],
        })
        .expect("this meeting's roll call");
    let x = request(addr, "GET", &format!("/api/v1/meetings/{id}/attendance.xlsx"), "", Some(&sec)).await;
    assert_eq!(x.status, 200);
    assert!(x.headers.contains("spreadsheetml") && x.headers.contains("attachment"));
    let strings = unzip(&x.bytes, "xl/sharedStrings.xml");
    for text in ["安全生产会", "城关镇会议室", "河西乡会议室", "缺席", "已应答", "未入会"]
    {
        assert!(strings.contains(text), "{text} missing from {strings}");
    }
    assert!(!strings.contains("别的会场"), "another meeting's roll call stays out");
    let book = unzip(&x.bytes, "xl/workbook.xml");
    assert!(book.contains("签到表") && book.contains("点名记录"), "{book}");
    let denied =
        request(addr, "GET", &format!("/api/v1/meetings/{id}/attendance.xlsx"), "", Some(&venue)).await;
    assert_eq!(denied.status, 403);

    // The QR code of an invitation.
    let qr =
        request(addr, "GET", &format!("/api/v1/meetings/{id}/invitations/v1/qr.svg"), "", Some(&sec)).await;
    assert!(qr.status == 200 && qr.headers.contains("image/svg+xml") && qr.text.contains("<svg"));
    let none =
        request(addr, "GET", &format!("/api/v1/meetings/{id}/invitations/p1/qr.svg"), "", Some(&sec)).await;
    assert_eq!(none.status, 404);

    // Calendar feeds: a secret address per account, the meetings it may see.
    let url = request(addr, "GET", "/api/v1/me/feed", "", Some(&venue)).await.body["url"]
        .as_str()
        .expect("url")
        .to_string();
    let feed_path = &url[url.find("/api/v1/feeds/").expect("path")..];
    let feed = request(addr, "GET", feed_path, "", None).await;
    assert_eq!(feed.status, 200);
    assert!(
        feed.text.contains(&format!("UID:{id}@huiyi")) && feed.text.contains("安全生产会"),
        "{}",
        feed.text
    );
    let person_url = request(addr, "GET", "/api/v1/me/feed", "", Some(&person)).await.body["url"]
        .as_str()
        .expect("url")
        .to_string();
    let person_feed =
        request(addr, "GET", &person_url[person_url.find("/api/v1/feeds/").expect("path")..], "", None).await;
    assert!(person_feed.text.contains("BEGIN:VCALENDAR") && !person_feed.text.contains("安全生产会"));
    let forged = feed_path.replace(".ics", "x.ics");
    assert_eq!(request(addr, "GET", &forged, "", None).await.status, 404);

    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// Issue 11 (finding 7): a second use of a link while its holder is in the
/// meeting is refused and the holder told; the secretary re-issues the
/// link, after which the old one no longer joins and the new one does.
#[tokio::test]
async fn a_link_in_use_is_refused_and_a_reissued_link_replaces_the_old() {
    let dir = temp_dir("reissue");
    seed(&dir);
    let server = Running::start(&dir).await;
    let addr = server.addr;
    let [_admin, sec, ..] = setup(addr).await;
    let n = now();
    let m = create(addr, &sec, json!({"title": "周例会", "start": local(n + 600), "end": local(n + 4200), "participants": ["v1", "v2"]})).await;
    let id = m["id"].as_str().expect("id").to_string();
    let token_of = |link: &Value| {
        link["link"].as_str().expect("link").split("token=").nth(1).expect("token").to_string()
    };
    let links = request(addr, "GET", &format!("/api/v1/meetings/{id}/invitations"), "", Some(&sec)).await;
    let old = token_of(
        links.body.as_array().expect("links").iter().find(|l| l["participant"] == "v2").expect("v2"),
    );
    let target = common::Server::at(addr);

    let mut holder = common::connect(&target, None).await.expect("upgrade");
    send_msg(&mut holder, &hello(&old)).await;
    recv_type(&mut holder, "welcome").await;
    let mut second = common::connect(&target, None).await.expect("upgrade");
    send_msg(&mut second, &hello(&old)).await;
    let refused = recv_type(&mut second, "error").await;
    assert_eq!(refused["code"], "link_in_use", "{refused:?}");
    recv_type(&mut holder, "link_reused").await;

    let reissued =
        request(addr, "POST", &format!("/api/v1/meetings/{id}/invitations/v2/reissue"), "", Some(&sec)).await;
    assert_eq!(reissued.status, 200, "{:?}", reissued.body);
    let new = token_of(&reissued.body);
    assert_ne!(new, old);
    // Whoever held the seat with the old link is closed out at once.
    assert_eq!(close_code(&mut holder).await, Some(huiyi_protocol::close::REMOVED));
    let mut stale = common::connect(&target, None).await.expect("upgrade");
    send_msg(&mut stale, &hello(&old)).await;
    let refused = recv_type(&mut stale, "error").await;
    assert_eq!(refused["code"], "forbidden");
    assert!(refused["message"].as_str().is_some_and(|m| m.contains("replaced")), "{refused:?}");
    let mut fresh = common::connect(&target, None).await.expect("upgrade");
    send_msg(&mut fresh, &hello(&new)).await;
    recv_type(&mut fresh, "welcome").await;
    let store = SqliteStore::open(&dir.join("huiyi.db")).expect("db");
    assert!(store.audit_log(50).expect("log").iter().any(|e| e.action == "invitation.reissue"));
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}
