//! The REST API's sessions and audit log over real HTTP: cookie login,
//! lockout after repeated failures, the auditor-only log, one error shape.

use huiyi_signaling::store::{AccountRole, SqliteStore, Store};
use serde_json::Value;

mod common;
use common::http::*;

#[tokio::test]
async fn login_lockout_and_audit() {
    let dir = std::env::temp_dir().join(format!("huiyi-api-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    seed_accounts(
        &dir,
        &[
            ("secretary1", "会务一", AccountRole::Secretary, "s3cret-会务"),
            ("auditor1", "审计员", AccountRole::Auditor, "audit-pw"),
        ],
    );
    let server = Running::start(&dir).await;
    let addr = server.addr;

    // Bad input gets the one error shape, never a 500.
    for (body, want) in [("{", 400), ("{\"username\": 5}", 400), ("[]", 400)] {
        let r = request(addr, "POST", "/api/v1/login", body, None).await;
        assert_eq!(r.status, want, "{body}");
        assert_eq!(r.body["error"]["code"], "bad_request", "{body}");
        assert!(r.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let huge = format!("{{\"username\": \"{}\", \"password\": \"x\"}}", "x".repeat(100_000));
    assert_eq!(request(addr, "POST", "/api/v1/login", &huge, None).await.status, 413);
    assert_eq!(request(addr, "GET", "/api/v1/nothing", "", None).await.body["error"]["code"], "not_found");
    assert_eq!(request(addr, "GET", "/api/v1/me", "", None).await.status, 401);

    // A good login sets an HttpOnly, SameSite session cookie.
    let ok =
        request(addr, "POST", "/api/v1/login", r#"{"username":"secretary1","password":"s3cret-会务"}"#, None)
            .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert!(ok.headers.contains("HttpOnly") && ok.headers.contains("SameSite=Strict"));
    let cookie = session_cookie(&ok.headers);
    let me = request(addr, "GET", "/api/v1/me", "", Some(&cookie)).await;
    assert_eq!(
        (me.body["username"].as_str(), me.body["role"].as_str()),
        (Some("secretary1"), Some("secretary"))
    );
    // Only the auditor reads the audit log.
    assert_eq!(request(addr, "GET", "/api/v1/audit", "", Some(&cookie)).await.status, 403);

    // Five wrong passwords lock the account; then even the right one is refused.
    for _ in 0..5 {
        let r =
            request(addr, "POST", "/api/v1/login", r#"{"username":"secretary1","password":"nope"}"#, None)
                .await;
        assert_eq!(r.status, 401);
    }
    let locked =
        request(addr, "POST", "/api/v1/login", r#"{"username":"secretary1","password":"s3cret-会务"}"#, None)
            .await;
    assert_eq!(locked.status, 401);
    // The same answer as for a name that does not exist: nobody learns
    // which accounts exist, or which are locked.
    let unknown =
        request(addr, "POST", "/api/v1/login", r#"{"username":"nobody","password":"nope"}"#, None).await;
    assert_eq!((unknown.status, &unknown.body), (401, &locked.body));

    // Logging out ends the session.
    assert_eq!(request(addr, "POST", "/api/v1/logout", "", Some(&cookie)).await.status, 204);
    assert_eq!(request(addr, "GET", "/api/v1/me", "", Some(&cookie)).await.status, 401);

    // The auditor sees who tried what, when and from where.
    let a = request(addr, "POST", "/api/v1/login", r#"{"username":"auditor1","password":"audit-pw"}"#, None)
        .await;
    let log = request(addr, "GET", "/api/v1/audit", "", Some(&session_cookie(&a.headers))).await;
    let entries = log.body["entries"].as_array().expect("entries").clone();
    let logins: Vec<&Value> =
        entries.iter().filter(|e| e["action"] == "login" && e["target"] == "secretary1").collect();
    assert!(logins.iter().filter(|e| e["outcome"] == "failed").count() >= 5);
    assert!(logins.iter().any(|e| e["outcome"] == "denied"), "the locked attempt is recorded");
    assert!(logins.iter().all(|e| e["source"] == "127.0.0.1"));
    assert!(
        entries.iter().any(|e| e["action"] == "denied" && e["target"] == "GET /api/v1/audit"),
        "the refused read of the log is itself recorded"
    );

    server.stop().await;
    // Still there after a restart.
    let store = SqliteStore::open(&dir.join("huiyi.db")).expect("reopen");
    assert!(store.audit_log(1000).expect("log").len() >= entries.len());
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn org_import_and_meetings_with_etags() {
    let dir = std::env::temp_dir().join(format!("huiyi-api-meetings-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    seed_accounts(
        &dir,
        &[
            ("admin1", "管理员", AccountRole::Admin, "admin-pw"),
            ("sec1", "会务一", AccountRole::Secretary, "sec-pw"),
            ("sec2", "会务二", AccountRole::Secretary, "sec-pw"),
            ("p1", "张三", AccountRole::Participant, "p-pw"),
        ],
    );
    let server = Running::start(&dir).await;
    let addr = server.addr;
    let (admin, sec1, sec2, person) = (
        login(addr, "admin1", "admin-pw").await,
        login(addr, "sec1", "sec-pw").await,
        login(addr, "sec2", "sec-pw").await,
        login(addr, "p1", "p-pw").await,
    );

    let csv = "id,parent,name,kind\ncounty,,某某县,县\nt1,county,城关镇,乡镇\nv1,t1,城关镇会议室,会场\nv2,county,河西乡会议室,会场\n";
    assert_eq!(
        request(addr, "POST", "/api/v1/org/import", csv, Some(&sec1)).await.status,
        403,
        "admins import"
    );
    let bad = request(
        addr,
        "POST",
        "/api/v1/org/import",
        "id,parent,name,kind\nx,missing,无主,会场\n",
        Some(&admin),
    )
    .await;
    assert_eq!(bad.status, 422);
    assert_eq!(request(addr, "POST", "/api/v1/org/import", csv, Some(&admin)).await.body["imported"], 4);
    assert_eq!(request(addr, "GET", "/api/v1/org", "", Some(&person)).await.status, 200);

    let m = r#"{"title":"周例会","start":"2026-12-07T09:00:00","end":"2026-12-07T10:00:00","participants":["v1","v2"]}"#;
    assert_eq!(
        request(addr, "POST", "/api/v1/meetings", m, Some(&person)).await.status,
        403,
        "participants do not schedule"
    );
    let created = request(addr, "POST", "/api/v1/meetings", m, Some(&sec1)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(header_value(&created.headers, "etag").as_deref(), Some("\"v1\""));
    assert_eq!(created.body["warnings"], serde_json::json!([]));
    let id = created.body["id"].as_str().expect("id").to_string();
    // A second meeting with an overlapping venue gets a conflict warning.
    let clash = r#"{"title":"安全会","start":"2026-12-07T09:30:00","end":"2026-12-07T11:00:00","participants":["v1"]}"#;
    let second = request(addr, "POST", "/api/v1/meetings", clash, Some(&sec2)).await;
    assert_eq!(second.status, 201);
    assert_eq!(second.body["warnings"][0]["who"], "v1");

    // Two secretaries edit the same version: the second gets 412, nothing is lost.
    let path = format!("/api/v1/meetings/{id}");
    let edit1 = m.replace("周例会", "周例会（调整）");
    let edit2 = m.replace("09:00:00", "08:00:00");
    let r1 = request_with(addr, "PUT", &path, &edit1, Some(&sec1), "If-Match: \"v1\"\r\n").await;
    assert_eq!(r1.status, 200);
    assert_eq!(header_value(&r1.headers, "etag").as_deref(), Some("\"v2\""));
    let r2 = request_with(addr, "PUT", &path, &edit2, Some(&sec2), "If-Match: \"v1\"\r\n").await;
    assert_eq!(r2.status, 412);
    assert_eq!(r2.body["error"]["code"], "conflict");
    assert_eq!(request(addr, "PUT", &path, &edit2, Some(&sec2)).await.status, 428, "If-Match is required");
    assert_eq!(request(addr, "GET", &path, "", Some(&sec2)).await.body["title"], "周例会（调整）");
    assert_eq!(request(addr, "GET", &path, "", Some(&person)).await.status, 403, "not invited");

    // Bad input: readable 4xx, never 500, nothing stored.
    for (body, status) in [
        (r#"{"title":"x","start":"2026-12-07T10:00:00","end":"2026-12-07T09:00:00"}"#, 422),
        (
            r#"{"title":"x","start":"2026-12-07T09:00:00","end":"2026-12-07T10:00:00","participants":["nowhere"]}"#,
            422,
        ),
        (r#"{"title":"","start":"2026-12-07T09:00:00","end":"2026-12-07T10:00:00"}"#, 422),
        (r#"{"title":"x","start":"tomorrow","end":"2026-12-07T10:00:00"}"#, 400),
        (r#"{"title":5}"#, 400),
        (r#"{"title":"x","start":"2026-12-07T09:00:00","end":"2026-12-07T10:00:00","colour":"red"}"#, 400),
    ] {
        let r = request(addr, "POST", "/api/v1/meetings", body, Some(&sec1)).await;
        assert_eq!(r.status, status, "{body}: {:?}", r.body);
        assert!(r.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // A weekly series: every Monday, four times, the second cancelled from the start.
    let series = r#"{"meeting":{"title":"周一例会","start":"2027-01-04T09:00:00","end":"2027-01-04T10:00:00","participants":["v1"]},
        "rule":{"freq":"weekly","weekdays":["Mon"],"end":{"count":4}},"exceptions":{"2027-01-11":{"kind":"cancelled"}}}"#;
    let created = request(addr, "POST", "/api/v1/series", series, Some(&sec1)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let starts: Vec<&str> = created.body["meetings"]
        .as_array()
        .expect("meetings")
        .iter()
        .filter_map(|m| m["start"].as_str())
        .collect();
    assert_eq!(starts, vec!["2027-01-04T09:00:00", "2027-01-18T09:00:00", "2027-01-25T09:00:00"]);
    let sid = created.body["series"].as_str().expect("series").to_string();
    assert_eq!(
        request(addr, "GET", &format!("/api/v1/series/{sid}"), "", Some(&sec2)).await.body["meetings"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    let endless = r#"{"meeting":{"title":"每日碰头","start":"2027-01-04T09:00:00","end":"2027-01-04T09:15:00"},"rule":{"freq":"daily","end":{"until":"2040-01-01"}}}"#;
    let refused = request(addr, "POST", "/api/v1/series", endless, Some(&sec1)).await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body["error"]["message"].as_str().is_some_and(|m| m.contains("520")),
        "{:?}",
        refused.body
    );
    let weird = r#"{"meeting":{"title":"x","start":"2027-01-04T09:00:00","end":"2027-01-04T09:15:00"},"rule":{"freq":"hourly","end":{"count":2}}}"#;
    assert_eq!(request(addr, "POST", "/api/v1/series", weird, Some(&sec1)).await.status, 400);

    let week = request(
        addr,
        "GET",
        "/api/v1/meetings?from=2026-12-07T00:00:00&to=2026-12-14T00:00:00",
        "",
        Some(&sec2),
    )
    .await;
    assert_eq!(week.body.as_array().map(Vec::len), Some(2), "only the two valid meetings exist");
    let path = "/api/v1/meetings?from=2026-12-07T00:00:00&to=2026-12-14T00:00:00";
    let theirs = request(addr, "GET", path, "", Some(&person)).await;
    assert_eq!(theirs.body.as_array().map(Vec::len), Some(0), "a person sees only meetings it is invited to");
    assert_eq!(request(addr, "GET", "/api/v1/meetings?from=x&to=y", "", Some(&person)).await.status, 400);

    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}
