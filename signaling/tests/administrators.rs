//! 等保 2.0 level 3 over real HTTP (issue 11): the three separated
//! administrators, a new server's first start, the security
//! administrator's tools, the audit administrator's filtered, exported and
//! verified log, refusals and configuration changes in it, and re-issued
//! join links.

mod common;

use common::http::*;
use huiyi_signaling::store::{AccountRole, SqliteStore, Store};
use serde_json::{json, Value};

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("huiyi-admins-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

async fn post(addr: std::net::SocketAddr, path: &str, body: Value, who: &str) -> Reply {
    request(addr, "POST", path, &body.to_string(), Some(who)).await
}

/// The first start makes the three administrators with one-time passwords
/// in a file only the server's user reads; each must set its own first.
#[tokio::test]
async fn a_new_server_starts_with_three_administrators() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("first");
    let server = Running::start(&dir).await;
    let addr = server.addr;
    // Serving means the start-up (and the file) is done.
    assert_eq!(request(addr, "GET", "/healthz", "", None).await.status, 200);
    let file = dir.join("initial-passwords.txt");
    let mode = std::fs::metadata(&file).expect("the passwords file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "readable by the server's user alone");
    let text = std::fs::read_to_string(&file).expect("read");
    let passwords: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let mut f = l.split('\t');
            (f.next().expect("user").to_string(), f.next().expect("password").to_string())
        })
        .collect();
    let users: Vec<&str> = passwords.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(users, ["admin", "security", "auditor"]);
    for (user, password) in &passwords {
        first_login(addr, user, password, "Own-pass-2026!").await;
    }
    server.stop().await;
    let store = SqliteStore::open(&dir.join("huiyi.db")).expect("db");
    let roles: Vec<AccountRole> = store.accounts().expect("accounts").iter().map(|a| a.role).collect();
    assert!(roles.contains(&AccountRole::Security) && roles.contains(&AccountRole::Auditor));
    std::fs::remove_dir_all(&dir).ok();
}

/// None of the three can make an administrator, give an account an
/// administrator's role, or touch another administrator's account; each
/// refusal is in the audit log.
#[tokio::test]
async fn administrators_cannot_make_or_touch_each_other() {
    let dir = temp_dir("separation");
    seed_accounts(
        &dir,
        &[
            ("admin1", "系统管理员", AccountRole::Admin, "admin-password"),
            ("security1", "安全管理员", AccountRole::Security, "security-password"),
            ("aud1", "审计管理员", AccountRole::Auditor, "aud-password"),
            ("sec1", "会务一", AccountRole::Secretary, "sec-password"),
        ],
    );
    let server = Running::start(&dir).await;
    let addr = server.addr;
    let admin = login(addr, "admin1", "admin-password").await;
    let security = login(addr, "security1", "security-password").await;
    let aud = login(addr, "aud1", "aud-password").await;
    let store = SqliteStore::open(&dir.join("huiyi.db")).expect("db");
    let id = |u: &str| store.account_by_username(u).expect("account").id;

    for role in ["admin", "security", "auditor"] {
        let body = json!({"username": format!("new-{role}"), "display_name": "x", "role": role});
        assert_eq!(post(addr, "/api/v1/accounts", body, &admin).await.status, 403, "admin makes a {role}");
        let r =
            post(addr, &format!("/api/v1/accounts/{}/role", id("sec1")), json!({"role": role}), &security)
                .await;
        assert_eq!(r.status, 403, "security makes the secretary a {role}");
    }
    for target in ["admin1", "aud1", "security1"] {
        for action in ["role", "unlock", "reset-password", "end-sessions"] {
            let body = if action == "role" { json!({"role": "participant"}) } else { json!(null) };
            let path = format!("/api/v1/accounts/{}/{action}", id(target));
            let r = request(
                addr,
                "POST",
                &path,
                &if action == "role" { body.to_string() } else { String::new() },
                Some(&security),
            )
            .await;
            assert_eq!(r.status, 403, "security: {action} of {target}");
        }
    }
    // The admin no longer changes roles; the auditor changes nothing.
    let r =
        post(addr, &format!("/api/v1/accounts/{}/role", id("sec1")), json!({"role": "chair"}), &admin).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        request(addr, "POST", "/api/v1/org/import", "id,parent,name,kind\n", Some(&aud)).await.status,
        403
    );
    // Nothing changed, and every refusal is recorded with who and what.
    assert_eq!(store.account_by_username("sec1").expect("sec1").role, AccountRole::Secretary);
    let log = request(addr, "GET", "/api/v1/audit?action=denied&limit=500", "", Some(&aud)).await;
    let denied = log.body["entries"].as_array().expect("entries");
    assert!(denied.len() >= 6 + 12 + 2, "{} refusals recorded", denied.len());
    assert!(denied.iter().all(|e| e["outcome"] == "denied" && e["source"] == "127.0.0.1"));
    assert!(denied
        .iter()
        .any(|e| e["actor"] == id("admin1").as_str() && e["target"] == "POST /api/v1/accounts"));
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// The security administrator's tools on an ordinary account: unlock a
/// locked one, reset a password (one-time, must change), end sessions.
#[tokio::test]
async fn the_security_administrator_unlocks_resets_and_ends_sessions() {
    let dir = temp_dir("security");
    seed_accounts(
        &dir,
        &[
            ("security1", "安全管理员", AccountRole::Security, "security-password"),
            ("sec1", "会务一", AccountRole::Secretary, "Sec-password-1"),
        ],
    );
    let server = Running::start(&dir).await;
    let addr = server.addr;
    let security = login(addr, "security1", "security-password").await;
    let store = SqliteStore::open(&dir.join("huiyi.db")).expect("db");
    let sec_id = store.account_by_username("sec1").expect("sec1").id;
    let session = login(addr, "sec1", "Sec-password-1").await;

    // End its sessions (a lost laptop).
    let ended = post(addr, &format!("/api/v1/accounts/{sec_id}/end-sessions"), json!(null), &security).await;
    assert_eq!((ended.status, ended.body["ended"].as_u64()), (200, Some(1)));
    assert_eq!(request(addr, "GET", "/api/v1/me", "", Some(&session)).await.status, 401);

    // Locked by five wrong passwords; unlocked by the security administrator.
    for _ in 0..5 {
        let body = json!({"username": "sec1", "password": "wrong"}).to_string();
        assert_eq!(request(addr, "POST", "/api/v1/login", &body, None).await.status, 401);
    }
    let right = json!({"username": "sec1", "password": "Sec-password-1"}).to_string();
    assert_eq!(request(addr, "POST", "/api/v1/login", &right, None).await.status, 401, "locked");
    let listed = request(addr, "GET", "/api/v1/accounts", "", Some(&security)).await;
    let row =
        listed.body.as_array().expect("list").iter().find(|a| a["username"] == "sec1").expect("sec1").clone();
    assert!(row["locked_until"].as_i64().is_some(), "{row:?}");
    assert_eq!(
        post(addr, &format!("/api/v1/accounts/{sec_id}/unlock"), json!(null), &security).await.status,
        204
    );
    assert_eq!(request(addr, "POST", "/api/v1/login", &right, None).await.status, 200);

    // A reset gives a one-time password that must be changed first.
    let reset =
        post(addr, &format!("/api/v1/accounts/{sec_id}/reset-password"), json!(null), &security).await;
    let one_time = reset.body["one_time_password"].as_str().expect("one-time password").to_string();
    assert_eq!(request(addr, "POST", "/api/v1/login", &right, None).await.status, 401, "the old one is gone");
    first_login(addr, "sec1", &one_time, "Sec-password-2").await;

    // All of it is in the log, the one-time password nowhere.
    let aud = store.audit_log(100).expect("log");
    for action in ["account.sessions_end", "account.unlock", "account.password_reset", "account.password"] {
        assert!(aud.iter().any(|e| e.action == action), "{action} recorded");
    }
    assert!(!aud
        .iter()
        .any(|e| e.detail.contains(&one_time) || e.target.as_deref() == Some(one_time.as_str())));
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// The audit administrator filters, exports (recorded) and verifies the
/// log; a configuration change between starts is in it.
#[tokio::test]
async fn the_audit_log_is_filtered_exported_verified_and_records_config_changes() {
    let dir = temp_dir("audit");
    seed_accounts(
        &dir,
        &[
            ("aud1", "审计管理员", AccountRole::Auditor, "aud-password"),
            ("sec1", "会务一", AccountRole::Secretary, "sec-password"),
        ],
    );
    let server = Running::start(&dir).await;
    server.stop().await;
    let server = Running::start_with(&dir, |c| c.security.session_idle_mins = 15).await;
    let addr = server.addr;
    for _ in 0..3 {
        let body = json!({"username": "sec1", "password": "wrong"}).to_string();
        request(addr, "POST", "/api/v1/login", &body, None).await;
    }
    login(addr, "sec1", "sec-password").await;
    let aud = login(addr, "aud1", "aud-password").await;
    let get = |path: &str| {
        let (path, aud) = (path.to_string(), aud.clone());
        async move { request(addr, "GET", &path, "", Some(&aud)).await }
    };
    let failed = get("/api/v1/audit?action=login&outcome=failed&actor=sec1").await;
    assert_eq!(failed.body["entries"].as_array().map(Vec::len), Some(3), "{:?}", failed.body);
    let config = get("/api/v1/audit?action=config.").await;
    let details: Vec<&str> = config.body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["detail"].as_str())
        .collect();
    assert_eq!(details.len(), 2, "{details:?}");
    assert!(details[0].lines().any(|l| l == "security.session_idle_mins: 30 → 15"), "{details:?}");
    assert_eq!(details[1], "first start");
    let page = get("/api/v1/audit?limit=2").await;
    let next = page.body["next"].as_i64().expect("a next page");
    let older = get(&format!("/api/v1/audit?limit=2&before={next}")).await;
    assert!(older.body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .all(|e| e["seq"].as_i64() < Some(next)));
    assert_eq!(get("/api/v1/audit?outcome=maybe").await.status, 422);

    let csv = get("/api/v1/audit/export.csv?action=login").await;
    assert_eq!(csv.status, 200);
    assert!(csv.text.contains("\"login\"") && csv.text.lines().count() >= 5, "{}", csv.text);
    let verify = get("/api/v1/audit/verify").await;
    assert_eq!(verify.body["broken_at"], Value::Null, "{:?}", verify.body);
    assert!(verify.body["records"].as_u64() > Some(5));
    let exported = get("/api/v1/audit?action=audit.export").await;
    assert_eq!(exported.body["entries"].as_array().map(Vec::len), Some(1), "the export is recorded");
    server.stop().await;

    // Someone with the file bypasses the triggers and changes record 2:
    // `huiyi audit verify` (the same walk) finds it.
    let conn = rusqlite::Connection::open(dir.join("huiyi.db")).expect("the file");
    conn.execute_batch(
        "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET detail = 'nothing' WHERE seq = 2;",
    )
    .expect("tamper");
    drop(conn);
    let store = SqliteStore::open(&dir.join("huiyi.db")).expect("db");
    assert_eq!(store.audit_verify().expect("verify").broken_at, Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

/// A server upgraded from a version without the three administrators gets
/// the ones it lacks at its first start (the existing admin stays).
#[tokio::test]
async fn an_upgraded_server_gets_the_administrators_it_lacks() {
    let dir = temp_dir("upgrade");
    seed_accounts(&dir, &[("admin", "管理员", AccountRole::Admin, "admin-password")]);
    let server = Running::start(&dir).await;
    assert_eq!(request(server.addr, "GET", "/healthz", "", None).await.status, 200);
    let text = std::fs::read_to_string(dir.join("initial-passwords.txt")).expect("the file");
    let users: Vec<&str> =
        text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split('\t').next()).collect();
    assert_eq!(users, ["security", "auditor"]);
    server.stop().await;
    // Nothing more at the next start.
    std::fs::remove_file(dir.join("initial-passwords.txt")).expect("delete");
    let server = Running::start(&dir).await;
    assert_eq!(request(server.addr, "GET", "/healthz", "", None).await.status, 200);
    assert!(!dir.join("initial-passwords.txt").exists());
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}
