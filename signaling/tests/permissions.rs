//! Every route of the REST API for every role: a route the permission model
//! refuses answers 403 (before it looks at the body or the record), a route
//! it allows never does, and nothing answers a request without a session
//! but 401. The model itself is held against docs/api.md's table by the
//! unit test in `permissions.rs`; this test holds the routes against the
//! model.

mod common;

use common::http::*;
use huiyi_signaling::permissions::Permission;
use huiyi_signaling::store::{AccountRole, SqliteStore, Store};
use serde_json::json;

const ORG: &str = "id,parent,name,kind\ncounty,,某某县,县\nv1,county,城关镇会议室,会场\nv2,county,河西乡会议室,会场\np1,county,李四,人员\n";

fn local(secs: i64) -> String {
    huiyi_signaling::scheduling::local_from_unix(secs).expect("time").format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A route: method, path, body, and what it needs (`None`: any account).
type Route = (&'static str, String, String, Option<Permission>);

fn routes(m: &str) -> Vec<Route> {
    let meeting =
        json!({"title": "", "start": "2026-12-01T09:00:00", "end": "2026-12-01T10:00:00"}).to_string();
    let account =
        json!({"username": "x", "display_name": "x", "role": "venue", "password": "short"}).to_string();
    let series = json!({"meeting": {"title": "", "start": "2026-12-01T09:00:00", "end": "2026-12-01T10:00:00"}, "rule": {"freq": "daily", "end": {"count": 2}}}).to_string();
    let template = json!({"name": "", "title": "", "duration_min": 0}).to_string();
    let s = String::new;
    vec![
        ("GET", "/api/v1/me".into(), s(), None),
        ("GET", "/api/v1/audit".into(), s(), Some(Permission::ReadAudit)),
        ("GET", "/api/v1/accounts".into(), s(), Some(Permission::ListAccounts)),
        ("GET", "/api/v1/audit/export.csv".into(), s(), Some(Permission::ReadAudit)),
        ("GET", "/api/v1/audit/verify".into(), s(), Some(Permission::ReadAudit)),
        ("POST", "/api/v1/accounts".into(), account, Some(Permission::CreateAccounts)),
        (
            "POST",
            "/api/v1/accounts/nobody/role".into(),
            json!({"role": "participant"}).to_string(),
            Some(Permission::ManageAccounts),
        ),
        ("POST", "/api/v1/accounts/nobody/unlock".into(), s(), Some(Permission::ManageAccounts)),
        ("POST", "/api/v1/accounts/nobody/reset-password".into(), s(), Some(Permission::ManageAccounts)),
        ("POST", "/api/v1/accounts/nobody/end-sessions".into(), s(), Some(Permission::ManageAccounts)),
        ("GET", "/api/v1/org".into(), s(), None),
        ("POST", "/api/v1/org/import".into(), "id,parent,name,kind\n".into(), Some(Permission::ManageOrg)),
        (
            "PUT",
            "/api/v1/org/nope".into(),
            json!({"parent": null, "name": "x"}).to_string(),
            Some(Permission::ManageOrg),
        ),
        ("DELETE", "/api/v1/org/nope".into(), s(), Some(Permission::ManageOrg)),
        ("GET", "/api/v1/meetings?from=2026-12-01T00:00:00&to=2026-12-02T00:00:00".into(), s(), None),
        ("POST", "/api/v1/meetings".into(), meeting.clone(), Some(Permission::Schedule)),
        ("GET", format!("/api/v1/meetings/{m}"), s(), Some(Permission::ReadMeeting)),
        ("PUT", format!("/api/v1/meetings/{m}"), meeting, Some(Permission::Schedule)),
        ("POST", "/api/v1/series".into(), series, Some(Permission::Schedule)),
        ("GET", "/api/v1/templates".into(), s(), Some(Permission::Schedule)),
        ("POST", "/api/v1/templates".into(), template, Some(Permission::Schedule)),
        ("DELETE", "/api/v1/templates/nope".into(), s(), Some(Permission::Schedule)),
        ("GET", format!("/api/v1/meetings/{m}/invitations"), s(), Some(Permission::Schedule)),
        ("GET", format!("/api/v1/meetings/{m}/invitations/v1/qr.svg"), s(), Some(Permission::Schedule)),
        ("POST", format!("/api/v1/meetings/{m}/invitations/nope/reissue"), s(), Some(Permission::Schedule)),
        ("GET", format!("/api/v1/meetings/{m}/join"), s(), Some(Permission::JoinLink)),
        ("GET", format!("/api/v1/meetings/{m}/attendance"), s(), Some(Permission::ReadAttendance)),
        ("GET", format!("/api/v1/meetings/{m}/attendance.csv"), s(), Some(Permission::ReadAttendance)),
        ("GET", format!("/api/v1/meetings/{m}/attendance.xlsx"), s(), Some(Permission::ReadAttendance)),
        ("GET", format!("/api/v1/meetings/{m}/calendar.ics"), s(), Some(Permission::ReadMeeting)),
        ("GET", "/api/v1/me/feed".into(), s(), None),
        // Last: they change the meeting's state (the answer stays a matter of permission).
        ("POST", format!("/api/v1/meetings/{m}/start"), s(), Some(Permission::RunMeeting)),
        ("POST", format!("/api/v1/meetings/{m}/cancel"), s(), Some(Permission::Schedule)),
        ("POST", format!("/api/v1/meetings/{m}/end"), s(), Some(Permission::RunMeeting)),
    ]
}

#[tokio::test]
async fn every_route_answers_every_role_as_the_permission_model_says() {
    let dir = std::env::temp_dir().join(format!("huiyi-perm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    seed_accounts(
        &dir,
        &[
            ("admin1", "管理员", AccountRole::Admin, "admin-password"),
            ("security1", "安全员", AccountRole::Security, "security-password"),
            ("sec1", "会务一", AccountRole::Secretary, "sec-password"),
            ("chair1", "张县长", AccountRole::Chair, "chair-password"),
            ("chair2", "李副县长", AccountRole::Chair, "chair-password"),
            ("aud1", "审计员", AccountRole::Auditor, "aud-password"),
        ],
    );
    let server = Running::start(&dir).await;
    let addr = server.addr;
    let admin = login(addr, "admin1", "admin-password").await;
    assert_eq!(request(addr, "POST", "/api/v1/org/import", ORG, Some(&admin)).await.status, 200);
    for (user, role, unit) in [("v1term", "venue", "v1"), ("lisi", "participant", "p1")] {
        let body = json!({"username": user, "display_name": user, "role": role, "org_unit": unit, "password": "Given-Pass-2026"});
        assert_eq!(
            request(addr, "POST", "/api/v1/accounts", &body.to_string(), Some(&admin)).await.status,
            201
        );
        first_login(addr, user, "Given-Pass-2026", "A-long-password-1").await;
    }
    let store = SqliteStore::open(&dir.join("huiyi.db")).expect("the server's database");
    let chair = store.account_by_username("chair1").expect("chair1");
    let sec = login(addr, "sec1", "sec-password").await;
    let now = huiyi_signaling::clock::unix_secs();
    let body = json!({"title": "防汛调度会", "start": local(now + 600), "end": local(now + 4200), "chair": chair.id, "participants": ["v1"]});
    let created = request(addr, "POST", "/api/v1/meetings", &body.to_string(), Some(&sec)).await;
    assert_eq!(created.status, 201);
    let m = created.body["id"].as_str().expect("id").to_string();

    let mut people = vec![("admin1", admin), ("sec1", sec)];
    for (user, password) in [
        ("security1", "security-password"),
        ("chair1", "chair-password"),
        ("chair2", "chair-password"),
        ("aud1", "aud-password"),
        ("v1term", "A-long-password-1"),
        ("lisi", "A-long-password-1"),
    ] {
        people.push((user, login(addr, user, password).await));
    }
    let mut checked = 0;
    for (method, path, body, needs) in routes(&m) {
        let anonymous = request(addr, method, &path, &body, None).await;
        assert_eq!(anonymous.status, 401, "{method} {path} without a session");
        for (user, cookie) in &people {
            // The record as it is now (start, cancel and end change it).
            let meeting = store.meeting(&m).expect("the meeting");
            let account = store.account_by_username(user).expect("account");
            let allowed = needs.is_none_or(|p| account.may(p, Some(&meeting)));
            let reply = request(addr, method, &path, &body, Some(cookie)).await;
            if allowed {
                assert!(
                    reply.status != 403 && reply.status != 401,
                    "{method} {path} as {user}: allowed by the model, answered {} {:?}",
                    reply.status,
                    reply.body
                );
            } else {
                assert_eq!(reply.status, 403, "{method} {path} as {user}: refused by the model");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 34 * 8, "every route for every role");
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
