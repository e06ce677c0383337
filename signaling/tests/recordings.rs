//! Recordings over real HTTP and WebSocket (issue 16), without media: a
//! meeting scheduled to be recorded records from when it opens, everyone in
//! it is told (`recording_since`), the secretary stops it from the console
//! API; who may list, download and delete recordings follows the permission
//! model, and a deletion is audited. (Media into the files: tests/tests/recording.rs.)

mod common;

use common::http::*;
use common::{hello, recv_type, send_msg};
use huiyi_signaling::store::AccountRole;
use serde_json::{json, Value};

const ORG: &str = "id,parent,name,kind\ncounty,,某某县,县\nv1,county,城关镇会议室,会场\n";

fn local(secs: i64) -> String {
    huiyi_signaling::scheduling::local_from_unix(secs).expect("time").format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// The next `meeting_state` for which `pred` holds.
async fn state_where(ws: &mut common::Ws, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let m = recv_type(ws, "meeting_state").await;
        if pred(&m) {
            return m;
        }
    }
}

#[tokio::test]
async fn a_scheduled_recording_starts_with_the_meeting_and_follows_the_permission_model() {
    let dir = std::env::temp_dir().join(format!("huiyi-recordings-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    seed_accounts(
        &dir,
        &[
            ("admin1", "管理员", AccountRole::Admin, "admin-password"),
            ("sec1", "会务一", AccountRole::Secretary, "sec-password"),
            ("chair1", "张县长", AccountRole::Chair, "chair-password"),
            ("aud1", "审计员", AccountRole::Auditor, "aud-password"),
        ],
    );
    let server = Running::start_with(&dir, |c| c.recording.min_free_mb = 1).await;
    let addr = server.addr;
    let admin = login(addr, "admin1", "admin-password").await;
    assert_eq!(request(addr, "POST", "/api/v1/org/import", ORG, Some(&admin)).await.status, 200);
    let body = json!({"username": "v1term", "display_name": "城关镇终端", "role": "venue", "org_unit": "v1", "password": "Given-Pass-2026"});
    assert_eq!(request(addr, "POST", "/api/v1/accounts", &body.to_string(), Some(&admin)).await.status, 201);
    first_login(addr, "v1term", "Given-Pass-2026", "A-long-password-1").await;
    let sec = login(addr, "sec1", "sec-password").await;
    let chair = login(addr, "chair1", "chair-password").await;
    let aud = login(addr, "aud1", "aud-password").await;
    let venue = login(addr, "v1term", "A-long-password-1").await;
    let chairs = request(addr, "GET", "/api/v1/accounts?role=chair", "", Some(&sec)).await;
    let chair_account = chairs.body[0]["id"].as_str().expect("id").to_string();

    let n = (huiyi_signaling::clock::unix_millis() / 1000) as i64;
    let m = json!({"title": "常务会", "start": local(n + 600), "end": local(n + 4200), "chair": chair_account,
        "participants": ["v1"], "record": true});
    let created = request(addr, "POST", "/api/v1/meetings", &m.to_string(), Some(&sec)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["record"], true);
    let id = created.body["id"].as_str().expect("id").to_string();
    let list_path = format!("/api/v1/meetings/{id}/recordings");
    let list = |who: String| {
        let path = list_path.clone();
        async move { request(addr, "GET", &path, "", Some(&who)).await }
    };
    assert_eq!(list(sec.clone()).await.body["recordings"], json!([]), "nothing before the meeting opens");

    // The venue joins: the meeting opens, and records.
    let join = request(addr, "GET", &format!("/api/v1/meetings/{id}/join"), "", Some(&venue)).await;
    let token = join.body["link"].as_str().expect("link").split("token=").nth(1).expect("token").to_string();
    let mut ws = common::connect(&common::Server::at(addr), None).await.expect("upgrade");
    send_msg(&mut ws, &hello(&token)).await;
    recv_type(&mut ws, "welcome").await;
    let st = state_where(&mut ws, |s| s["recording_since"].is_u64()).await;
    assert!(st["recording_since"].as_u64().is_some_and(|t| t / 1000 >= n as u64 - 1), "{st}");
    let running = list(sec.clone()).await;
    assert_eq!(running.body["recordings"][0]["state"], "recording", "{:?}", running.body);
    let rec = running.body["recordings"][0]["id"].as_str().expect("id").to_string();
    assert_eq!(running.body["recordings"][0]["started_by"], "server", "started by the schedule");

    // Who sees them: secretary, the meeting's chair, the auditor; not a venue.
    for (who, status) in [(&chair, 200), (&aud, 200), (&venue, 403)] {
        assert_eq!(list(who.clone()).await.status, status);
    }
    let deleting = request(addr, "DELETE", &format!("/api/v1/recordings/{rec}"), "", Some(&sec)).await;
    assert_eq!(deleting.status, 409, "not while it runs");

    // The secretary stops it; the venue is told.
    let path = format!("/api/v1/meetings/{id}/recording");
    let stop = request(addr, "POST", &path, &json!({"on": false}).to_string(), Some(&sec)).await;
    assert_eq!(stop.status, 202, "{:?}", stop.body);
    assert_eq!(request(addr, "POST", &path, "{\"on\": 1}", Some(&sec)).await.status / 100, 4, "a bad body");
    state_where(&mut ws, |s| s["recording_since"].is_null()).await;
    let mut stopped = Value::Null;
    for _ in 0..50 {
        stopped = list(aud.clone()).await.body["recordings"][0].clone();
        if stopped["state"] == "stopped" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(stopped["state"], "stopped", "{stopped}");
    assert!(stopped["stopped_at"].as_u64() >= stopped["started_at"].as_u64());

    // Its manifest downloads (whole, and a byte range); names outside the
    // recording are not served.
    let files = format!("/api/v1/recordings/{rec}/files");
    let manifest = request(addr, "GET", &format!("{files}/manifest.json"), "", Some(&aud)).await;
    assert_eq!((manifest.status, manifest.body["meeting"].as_str()), (200, Some(id.as_str())));
    let part =
        request_with(addr, "GET", &format!("{files}/manifest.json"), "", Some(&aud), "Range: bytes=0-1\r\n")
            .await;
    assert_eq!((part.status, part.bytes.as_slice()), (206, &b"{\n"[..]));
    for name in ["..%2Fhuiyi.db", "huiyi.db", "secret.key"] {
        assert_eq!(
            request(addr, "GET", &format!("{files}/{name}"), "", Some(&aud)).await.status,
            404,
            "{name}"
        );
    }
    assert_eq!(
        request(addr, "GET", "/api/v1/recordings/..%2F..%2Fsecret.key", "", Some(&aud)).await.status,
        404
    );

    // Deleting: not the chair, not the auditor; the secretary, audited.
    for who in [&chair, &aud] {
        let r = request(addr, "DELETE", &format!("/api/v1/recordings/{rec}"), "", Some(who)).await;
        assert_eq!(r.status, 403);
    }
    let deleted = request(addr, "DELETE", &format!("/api/v1/recordings/{rec}"), "", Some(&sec)).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(list(sec.clone()).await.body["recordings"], json!([]));
    let audit = request(addr, "GET", "/api/v1/audit?action=recording.delete", "", Some(&aud)).await;
    assert!(audit.text.contains(&rec), "the deletion is in the audit log: {}", audit.text);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
