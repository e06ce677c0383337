//! Issue 11, findings 8 and 9, over HTTP: an organisation import with a
//! cycle or a self-parent is refused whole and the tree stays readable;
//! dates at the ends of the calendar are refused with 422 before any date
//! arithmetic, nothing is stored, and the server goes on answering.

mod common;

use common::http::*;
use huiyi_signaling::store::{AccountRole, SqliteStore, Store};
use serde_json::json;

/// A server with an admin and a secretary, both logged in.
struct Site {
    dir: std::path::PathBuf,
    server: Running,
    addr: std::net::SocketAddr,
    admin: String,
    sec: String,
}

async fn site(tag: &str) -> Site {
    let dir = std::env::temp_dir().join(format!("huiyi-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    seed_accounts(
        &dir,
        &[
            ("admin1", "管理员", AccountRole::Admin, "admin-password"),
            ("sec1", "会务一", AccountRole::Secretary, "sec-password"),
        ],
    );
    let server = Running::start(&dir).await;
    let addr = server.addr;
    let admin = login(addr, "admin1", "admin-password").await;
    let sec = login(addr, "sec1", "sec-password").await;
    Site { dir, server, addr, admin, sec }
}

impl Site {
    async fn stop(self) {
        self.server.stop().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn cycles_and_extreme_dates_are_refused_and_nothing_breaks() {
    let site = site("hostile").await;
    let (addr, admin, sec, dir) = (site.addr, site.admin.clone(), site.sec.clone(), site.dir.clone());

    // 8. Cycles.
    let tree = "id,parent,name,kind\ncounty,,某某县,县\nv1,county,城关镇会议室,会场\n";
    assert_eq!(request(addr, "POST", "/api/v1/org/import", tree, Some(&admin)).await.status, 200);
    for bad in [
        "id,parent,name,kind\nself,self,自己,部门\n",
        "id,parent,name,kind\na,c,甲,部门\nb,a,乙,部门\nc,b,丙,部门\n",
    ] {
        let r = request(addr, "POST", "/api/v1/org/import", bad, Some(&admin)).await;
        assert_eq!(r.status, 422, "{:?}", r.body);
        assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.contains("cycle")), "{:?}", r.body);
    }
    let org = request(addr, "GET", "/api/v1/org", "", Some(&sec)).await;
    assert_eq!(org.status, 200);
    assert_eq!(org.body.as_array().map(Vec::len), Some(2), "only the good tree: {:?}", org.body);

    // 9. Extreme dates: meetings and series.
    for (start, end) in [
        ("+262142-12-31T23:00:00", "+262142-12-31T23:59:59"),
        ("-262143-01-01T00:00:00", "-262143-01-01T01:00:00"),
        ("9999-12-31T23:00:00", "9999-12-31T23:59:59"),
    ] {
        let body = json!({"title": "末日会议", "start": start, "end": end}).to_string();
        let r = request(addr, "POST", "/api/v1/meetings", &body, Some(&sec)).await;
        assert!(r.status == 422 || r.status == 400, "{start}: {} {:?}", r.status, r.body);
    }
    let series = json!({
        "meeting": {"title": "例会", "start": "2026-12-01T09:00:00", "end": "2026-12-01T10:00:00"},
        "rule": {"freq": "weekly", "end": {"count": 3}},
        "exceptions": {"2026-12-08": {"kind": "moved", "start": "+262142-12-31T23:00:00", "end": "+262142-12-31T23:59:59"}}
    });
    let r = request(addr, "POST", "/api/v1/series", &series.to_string(), Some(&sec)).await;
    assert!(
        r.status == 422 || r.status == 400,
        "a moved occurrence at the end of time: {} {:?}",
        r.status,
        r.body
    );
    // Nothing was stored, and the server still answers.
    let store = SqliteStore::open(&dir.join("huiyi.db")).expect("the server's database");
    let from = chrono::NaiveDate::from_ymd_opt(1, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).expect("date");
    let to = chrono::NaiveDateTime::MAX;
    assert_eq!(store.meetings_between(from, to).expect("meetings").len(), 0);
    assert_eq!(request(addr, "GET", "/api/v1/me", "", Some(&sec)).await.status, 200);
    site.stop().await;
}

/// Finding 7: a venue removed from a meeting cannot join with its old link;
/// the venue still invited can.
#[tokio::test]
async fn links_of_people_removed_from_the_meeting_stop_working() {
    let site = site("revoke").await;
    let (addr, admin, sec) = (site.addr, site.admin.clone(), site.sec.clone());
    let tree =
        "id,parent,name,kind\ncounty,,某某县,县\nv1,county,城关镇会议室,会场\nv2,county,河西乡会议室,会场\n";
    assert_eq!(request(addr, "POST", "/api/v1/org/import", tree, Some(&admin)).await.status, 200);
    let now = huiyi_signaling::clock::unix_secs();
    let local = |s: i64| {
        huiyi_signaling::scheduling::local_from_unix(s).expect("t").format("%Y-%m-%dT%H:%M:%S").to_string()
    };
    let body = json!({"title": "防汛会", "start": local(now + 600), "end": local(now + 4200), "participants": ["v1", "v2"]});
    let created = request(addr, "POST", "/api/v1/meetings", &body.to_string(), Some(&sec)).await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_str().expect("id").to_string();
    let links = request(addr, "GET", &format!("/api/v1/meetings/{id}/invitations"), "", Some(&sec)).await;
    let token_of = |who: &str| {
        let list = links.body.as_array().expect("links");
        let link = list.iter().find(|l| l["participant"] == who).expect(who)["link"].as_str().expect("link");
        link.split("token=").nth(1).expect("a token").to_string()
    };
    let (v1, v2) = (token_of("v1"), token_of("v2"));
    // The secretary takes v2 off the list.
    let edit = json!({"title": "防汛会", "start": local(now + 600), "end": local(now + 4200), "participants": ["v1"]});
    let etag = header_value(&created.headers, "etag").expect("etag");
    let edited = request_with(
        addr,
        "PUT",
        &format!("/api/v1/meetings/{id}"),
        &edit.to_string(),
        Some(&sec),
        &format!("If-Match: {etag}\r\n"),
    )
    .await;
    assert_eq!(edited.status, 200, "{:?}", edited.body);
    let target = common::Server::at(addr);
    let mut ws = common::connect(&target, None).await.expect("upgrade");
    common::send_msg(&mut ws, &common::hello(&v2)).await;
    let refused = common::recv_type(&mut ws, "error").await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
    assert_eq!(common::close_code(&mut ws).await, Some(1008));
    let mut ws = common::connect(&target, None).await.expect("upgrade");
    common::send_msg(&mut ws, &common::hello(&v1)).await;
    common::recv_type(&mut ws, "welcome").await;
    site.stop().await;
}

/// Finding 10 (part): a request from another site cannot change anything,
/// whatever its content type; control characters stay out of titles; every
/// answer carries the security headers.
#[tokio::test]
async fn cross_site_requests_and_control_characters_are_refused() {
    let site = site("csrf").await;
    let (addr, sec, dir) = (site.addr, site.sec.clone(), site.dir.clone());
    let body = json!({"title": "跨站会议", "start": "2026-12-01T09:00:00", "end": "2026-12-01T10:00:00"})
        .to_string();
    for extra in [
        "Origin: https://evil.example\r\nContent-Type: text/plain\r\n".to_string(),
        "Origin: http://localhost\r\nSec-Fetch-Site: cross-site\r\n".to_string(),
    ] {
        let r = request_with(addr, "POST", "/api/v1/meetings", &body, Some(&sec), &extra).await;
        assert_eq!(r.status, 403, "{extra:?}: {:?}", r.body);
    }
    let store = SqliteStore::open(&dir.join("huiyi.db")).expect("the server's database");
    let all = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).expect("date");
    assert_eq!(store.meetings_between(all, chrono::NaiveDateTime::MAX).expect("meetings").len(), 0);
    // The test client sends `Host: localhost`.
    let same = "Origin: http://localhost\r\nSec-Fetch-Site: same-origin\r\n";
    let ok = request_with(addr, "POST", "/api/v1/meetings", &body, Some(&sec), same).await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
    for header in ["x-frame-options: deny", "x-content-type-options: nosniff", "referrer-policy: same-origin"]
    {
        assert!(ok.headers.to_lowercase().contains(header), "{header} missing: {}", ok.headers);
    }
    let injected = json!({"title": "会议\r\nDTSTART:19700101T000000Z", "start": "2026-12-01T09:00:00", "end": "2026-12-01T10:00:00"});
    let r = request(addr, "POST", "/api/v1/meetings", &injected.to_string(), Some(&sec)).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    // The data directory and the database are the server's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: std::path::PathBuf| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
    assert_eq!(mode(dir.clone()), 0o700);
    assert_eq!(mode(dir.join("huiyi.db")), 0o600);
    site.stop().await;
}
