//! From the schedule to the live meeting and back: a secretary schedules a
//! meeting for two venues, takes their personal links, one venue joins and
//! leaves through the signaling socket, and the attendance shows it (and the
//! other venue absent), in JSON and CSV; everything survives a restart.

mod common;

use std::time::Duration;

use common::http::*;
use common::{close_code, hello, recv_type, send_msg};
use huiyi_protocol::ClientMsg;
use huiyi_signaling::store::AccountRole;
use serde_json::json;

#[tokio::test]
async fn invitations_lead_into_the_meeting_and_attendance_is_recorded() {
    let dir = std::env::temp_dir().join(format!("huiyi-attendance-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    seed_accounts(
        &dir,
        &[
            ("admin1", "管理员", AccountRole::Admin, "admin-pw"),
            ("sec1", "会务一", AccountRole::Secretary, "sec-pw"),
        ],
    );
    let server = Running::start(&dir).await;
    let addr = server.addr;
    let (admin, sec) = (login(addr, "admin1", "admin-pw").await, login(addr, "sec1", "sec-pw").await);
    let csv =
        "id,parent,name,kind\ncounty,,某某县,县\nv1,county,城关镇会议室,会场\nv2,county,河西乡会议室,会场\n";
    assert_eq!(request(addr, "POST", "/api/v1/org/import", csv, Some(&admin)).await.status, 200);

    // A meeting starting in ten minutes: its join window (30 min early) is open.
    let now = (huiyi_signaling::clock::unix_millis() / 1000) as i64;
    let local = |secs: i64| {
        huiyi_signaling::scheduling::local_from_unix(secs)
            .expect("time")
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string()
    };
    let body = json!({"title": "全县安全生产会", "start": local(now + 600), "end": local(now + 4200), "participants": ["v1", "v2"]});
    let created = request(addr, "POST", "/api/v1/meetings", &body.to_string(), Some(&sec)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().expect("id").to_string();
    let inv = request(addr, "GET", &format!("/api/v1/meetings/{id}/invitations"), "", Some(&sec)).await;
    let links = inv.body.as_array().expect("links").clone();
    assert_eq!(links.len(), 2);
    let link = links.iter().find(|l| l["participant"] == "v1").expect("v1")["link"]
        .as_str()
        .expect("link")
        .to_string();
    let token = link.split("token=").nth(1).expect("token").to_string();

    // The notice page: what, when, the join link with a QR code, and the reply form.
    let notice = request(addr, "GET", &format!("/notice?token={token}"), "", None).await;
    assert_eq!(notice.status, 200);
    assert!(
        notice.text.contains("全县安全生产会")
            && notice.text.contains("<svg")
            && notice.text.contains("请假")
    );
    assert_eq!(post_form(addr, "/notice", &[("token", &token), ("response", "confirmed")]).await.status, 303);
    let t2 = links.iter().find(|l| l["participant"] == "v2").expect("v2")["link"]
        .as_str()
        .expect("link")
        .split("token=")
        .nth(1)
        .expect("token")
        .to_string();
    assert_eq!(
        post_form(addr, "/notice", &[("token", &t2), ("response", "leave")]).await.status,
        403,
        "a leave request needs a reason"
    );
    assert_eq!(
        post_form(addr, "/notice", &[("token", &t2), ("response", "leave"), ("reason", "防汛值班")])
            .await
            .status,
        303
    );
    assert_eq!(request(addr, "GET", "/notice?token=forged.x", "", None).await.status, 403);

    // The venue joins with its personal link: the meeting's title and its name come from it.
    let ws_target = common::Server::at(addr);
    let mut ws = common::connect(&ws_target, None).await.expect("upgrade");
    send_msg(&mut ws, &hello(&token)).await;
    let w = recv_type(&mut ws, "welcome").await;
    assert_eq!(
        (w["meeting"]["title"].as_str(), w["you"]["name"].as_str(), w["you"]["role"].as_str()),
        (Some("全县安全生产会"), Some("城关镇会议室"), Some("venue"))
    );
    send_msg(&mut ws, &ClientMsg::SignIn).await;
    let upd = recv_type(&mut ws, "participant_updated").await;
    assert_eq!(upd["participant"]["signed_in"], true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let during = request(addr, "GET", &format!("/api/v1/meetings/{id}/attendance"), "", Some(&sec)).await;
    let status = |body: &serde_json::Value, who: &str| {
        body["participants"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["participant"] == who))
            .map(|p| p["status"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(status(&during.body, "v1").as_deref(), Some("present"));
    assert_eq!(status(&during.body, "v2").as_deref(), Some("absent"));
    send_msg(&mut ws, &ClientMsg::Leave).await;
    assert_eq!(close_code(&mut ws).await, Some(1000));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // It comes back, and is still in when the server stops: the stop records
    // its leave (and tells the client to come back later).
    let mut ws = common::connect(&ws_target, None).await.expect("upgrade");
    send_msg(&mut ws, &hello(&token)).await;
    recv_type(&mut ws, "welcome").await;
    server.stop().await;
    assert_eq!(close_code(&mut ws).await, Some(1001), "going away: the client reconnects later");
    // After a restart, the record is still there.
    let server = Running::start(&dir).await;
    let addr = server.addr;
    let sec = login(addr, "sec1", "sec-pw").await;
    let after = request(addr, "GET", &format!("/api/v1/meetings/{id}/attendance"), "", Some(&sec)).await;
    let v1 = after.body["participants"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["participant"] == "v1"))
        .expect("v1")
        .clone();
    assert_eq!((v1["status"].as_str(), v1["joins"].as_u64()), (Some("left"), Some(2)), "every join counts");
    assert!(v1["first_join"].as_i64().is_some() && v1["last_leave"].as_i64().is_some());
    assert!(v1["signed_in"].as_i64().is_some(), "the sign-in (签到) is on record");
    assert_eq!(v1["rsvp"], "confirmed");
    let v2 = after.body["participants"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["participant"] == "v2"))
        .expect("v2")
        .clone();
    assert_eq!(
        (v2["status"].as_str(), v2["rsvp"].as_str(), v2["leave_reason"].as_str()),
        (Some("absent"), Some("leave"), Some("防汛值班"))
    );
    let csv = request(addr, "GET", &format!("/api/v1/meetings/{id}/attendance.csv"), "", Some(&sec)).await;
    assert!(csv.headers.contains("text/csv"));
    assert!(csv.headers.contains("attachment"));
    assert!(csv.text.contains("城关镇会议室") && csv.text.contains("已离会"), "{}", csv.text);
    assert!(csv.text.contains("河西乡会议室") && csv.text.contains("缺席") && csv.text.contains("防汛值班"));
    let ics = request(addr, "GET", &format!("/api/v1/meetings/{id}/calendar.ics"), "", Some(&sec)).await;
    assert!(ics.headers.contains("text/calendar"));
    assert!(
        ics.text.contains("SUMMARY:全县安全生产会") && ics.text.contains(&format!("UID:{id}@huiyi")),
        "{}",
        ics.text
    );
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}
