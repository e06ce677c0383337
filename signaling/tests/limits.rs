//! Bounded resources (issue 14): each configured limit refuses with a typed
//! error, says which limit in its message, is counted in `/metrics`, and
//! never takes away a seat someone already holds.

mod common;

use common::http::request;
use common::*;
use huiyi_protocol::ClientMsg;
use huiyi_signaling::token::Role;
use serde_json::Value;

/// Joins `pid` to `meeting`: the welcome, or the error that refused it.
async fn try_join(s: &Server, meeting: &str, pid: &str) -> (Option<Ws>, Value) {
    let mut ws = connect(s, None).await.expect("upgrade");
    send_msg(&mut ws, &hello(token_for(s, meeting, pid, pid, Role::Participant))).await;
    let first = recv(&mut ws).await.expect("an answer");
    if first["type"] == "welcome" {
        (Some(ws), first)
    } else {
        (None, first)
    }
}

fn refusals(metrics: &str, limit: &str) -> u64 {
    let key = format!("huiyi_limit_refusals_total{{limit=\"{limit}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&key)).and_then(|v| v.parse().ok()).expect("counted")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seats_meetings_and_sdp_size_are_bounded_with_clear_errors_and_counted() {
    let s = server_with("limits", false, |c| {
        c.limits.participants_per_meeting = 2;
        c.limits.participants = 3;
        c.limits.meetings = 2;
        c.limits.sdp_bytes = 4096;
    })
    .await;

    // Seats in one meeting.
    let (a, _) = try_join(&s, "m1", "a").await;
    let (_b, _) = try_join(&s, "m1", "b").await;
    let (none, err) = try_join(&s, "m1", "c").await;
    assert!(none.is_none());
    assert_eq!(err["code"], "full", "{err}");
    assert!(err["message"].as_str().is_some_and(|m| m.contains("meeting is full")), "{err}");

    // Seats in all meetings: m2 takes the third, then the server is full.
    let (_d, _) = try_join(&s, "m2", "d").await;
    let (none, err) = try_join(&s, "m2", "e").await;
    assert!(none.is_none());
    assert_eq!(err["code"], "full", "{err}");
    assert!(err["message"].as_str().is_some_and(|m| m.contains("server holds its maximum")), "{err}");

    // Live meetings.
    let (none, err) = try_join(&s, "m3", "f").await;
    assert!(none.is_none());
    assert_eq!(err["code"], "full", "{err}");
    assert!(err["message"].as_str().is_some_and(|m| m.contains("meetings at once")), "{err}");

    // A seat already held is taken back even with the server full: `a`
    // drops and comes back with its link.
    drop(a);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (a, welcome) = try_join(&s, "m1", "a").await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    let mut a = a.expect("back");

    // An SDP over limits.sdp_bytes: refused as too large, the session goes on.
    let sdp = format!("v=0\r\n{}", "a=x-padding\r\n".repeat(400));
    assert!(sdp.len() > 4096);
    send_msg(&mut a, &ClientMsg::Publish { sdp, tracks: vec![], restart: false }).await;
    let err = recv_type(&mut a, "error").await;
    assert_eq!(err["code"], "too_large", "{err}");
    send_msg(&mut a, &ClientMsg::Ping { nonce: 7 }).await;
    recv_type(&mut a, "pong").await;

    let metrics = request(s.addr, "GET", "/metrics", "", None).await.text;
    assert_eq!(refusals(&metrics, "participants_per_meeting"), 1);
    assert_eq!(refusals(&metrics, "participants"), 1);
    assert_eq!(refusals(&metrics, "meetings"), 1);
    assert_eq!(refusals(&metrics, "sdp_bytes"), 1);
    assert_eq!(refusals(&metrics, "org_units"), 0);
    assert!(metrics.contains("\nhuiyi_seats 3\n"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_beyond_the_organisation_limit_keeps_nothing_of_it() {
    use common::http::{login, seed_accounts, Running};
    use huiyi_signaling::store::AccountRole;
    let dir = std::env::temp_dir().join(format!("huiyi-limits-org-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    seed_accounts(&dir, &[("admin1", "管理员", AccountRole::Admin, "admin-pw")]);
    let server = Running::start_with(&dir, |c| c.limits.org_units = 10).await;
    let addr = server.addr;
    let admin = login(addr, "admin1", "admin-pw").await;
    let mut csv = String::from("id,parent,name,kind\ncounty,,某某县,县\n");
    for i in 0..6 {
        csv.push_str(&format!("v{i},county,会场{i},会场\n"));
    }
    assert_eq!(request(addr, "POST", "/api/v1/org/import", &csv, Some(&admin)).await.body["imported"], 7);
    let mut more = String::from("id,parent,name,kind\n");
    for i in 6..12 {
        more.push_str(&format!("v{i},county,会场{i},会场\n"));
    }
    let refused = request(addr, "POST", "/api/v1/org/import", &more, Some(&admin)).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert!(refused.text.contains("limits.org_units"), "{}", refused.text);
    let org = request(addr, "GET", "/api/v1/org", "", Some(&admin)).await;
    assert!(
        !org.text.contains("v6") && org.text.contains("v5"),
        "the refused import left nothing: {}",
        org.text
    );
    let metrics = request(addr, "GET", "/metrics", "", None).await.text;
    assert_eq!(refusals(&metrics, "org_units"), 1);
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}
