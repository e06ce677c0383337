//! The meeting notice (会议通知) behind each personal link: what, when, the
//! agenda, the join link and its QR code for phones, and the reply: confirm,
//! or request leave (请假) with a reason. Plain HTML, no script, readable on
//! a phone; the token in the link is the only credential.

use axum::extract::{Form, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::common::qr_svg;
use super::common::AppState;

#[derive(Deserialize)]
pub(super) struct PageQuery {
    token: String,
    #[serde(default)]
    saved: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Reply {
    token: String,
    response: String,
    #[serde(default)]
    reason: String,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn now() -> u64 {
    crate::clock::unix_secs() as u64
}

fn refused(message: &str) -> Response {
    let body = format!(
        "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'><title>会议通知</title><p style='font:1.2rem sans-serif;margin:2rem'>{}</p>",
        esc(message)
    );
    (StatusCode::FORBIDDEN, Html(body)).into_response()
}

/// The link's claims if it is in date and not replaced by a re-issue.
async fn current(state: &AppState, token: &str) -> Result<crate::token::Claims, Response> {
    let claims =
        state.signer.verify_notice(token, now()).map_err(|e| refused(&format!("此链接无效：{e}")))?;
    let (m, p) = (claims.m.clone(), claims.p.clone());
    let store = state.store.clone();
    let epoch = tokio::task::spawn_blocking(move || store.link_epoch(&m, &p)).await;
    match epoch {
        Ok(Ok(e)) if e == claims.e as i64 => Ok(claims),
        Ok(Ok(_)) => Err(refused("此链接已被会务人员重新生成，请使用新的链接。")),
        _ => Err(refused("暂时无法打开，请稍后再试。")),
    }
}

pub(super) async fn page(State(state): State<AppState>, Query(q): Query<PageQuery>) -> Response {
    let claims = match current(&state, &q.token).await {
        Ok(c) => c,
        Err(refusal) => return refusal,
    };
    let (mid, pid) = (claims.m.clone(), claims.p.clone());
    let record = tokio::task::spawn_blocking({
        let store = state.store.clone();
        move || {
            (
                store.meeting(&mid).ok(),
                store.rsvps(&mid).ok().and_then(|r| r.into_iter().find(|(p, _, _)| *p == pid)),
            )
        }
    })
    .await
    .unwrap_or((None, None));
    let (meeting, rsvp) = record;
    let join = format!("{}/?token={}", super::common::public_base_url(&state.config), q.token);
    let when = meeting
        .as_ref()
        .map(|m| format!("{} 至 {}", m.start.format("%Y年%m月%d日 %H:%M"), m.end.format("%H:%M")))
        .unwrap_or_default();
    let agenda = meeting.as_ref().map(|m| esc(&m.agenda).replace('\n', "<br>")).unwrap_or_default();
    let status = match rsvp.as_ref().map(|(_, r, why)| (r.as_str(), why)) {
        Some(("confirmed", _)) => "已确认参会".to_string(),
        Some(("leave", why)) => format!("已请假：{}", esc(why)),
        _ => "尚未回复".to_string(),
    };
    let saved = if q.saved.is_some() { "<p class=ok>回复已保存。</p>" } else { "" };
    let body = format!(
        r#"<!doctype html><html lang=zh-CN><head><meta charset=utf-8><meta name=viewport content="width=device-width, initial-scale=1">
<title>会议通知 · {title}</title><style>
body{{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:0;background:#f4f6f9;color:#1d2733}}
main{{max-width:34rem;margin:0 auto;padding:1.2rem;background:#fff;min-height:100vh}}
h1{{color:#b3261e;font-size:1.5rem}} .label{{color:#5f6b7a}} .ok{{color:#1b5e20}}
a.join{{display:block;text-align:center;background:#c62828;color:#fff;padding:1rem;border-radius:10px;text-decoration:none;font-size:1.2rem;margin:1rem 0}}
.qr{{text-align:center}} textarea{{width:100%;min-height:4rem}} button{{font-size:1.05rem;padding:.7rem 1rem;margin:.3rem .3rem 0 0}}
</style></head><body><main>
<h1>{title}</h1>
<p><span class=label>参会单位/人员：</span>{name}</p>
<p><span class=label>时间：</span>{when}</p>
<p><span class=label>议程：</span><br>{agenda}</p>
<a class=join href="{join}">进入会议</a>
<div class=qr>{qr}<p class=label>手机扫码入会</p></div>
<h2>回复</h2><p>当前状态：{status}</p>{saved}
<form method=post action="/notice"><input type=hidden name=token value="{token}">
<button name=response value=confirmed>确认参会</button>
<p><label>请假事由（请假时填写）<br><textarea name=reason maxlength=500></textarea></label></p>
<button name=response value=leave>请假</button></form>
</main></body></html>"#,
        title = esc(&claims.t),
        name = esc(&claims.n),
        when = esc(&when),
        agenda = agenda,
        join = esc(&join),
        qr = qr_svg(&join),
        status = status,
        saved = saved,
        token = esc(&q.token),
    );
    (
        [(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'",
        )],
        Html(body),
    )
        .into_response()
}

pub(super) async fn reply(State(state): State<AppState>, Form(r): Form<Reply>) -> Response {
    let claims = match current(&state, &r.token).await {
        Ok(c) => c,
        Err(refusal) => return refusal,
    };
    let response = match r.response.as_str() {
        "confirmed" => "confirmed",
        "leave" if !r.reason.trim().is_empty() => "leave",
        "leave" => return refused("请假请填写事由。"),
        _ => return refused("无效的回复。"),
    };
    let reason = if response == "leave" {
        r.reason.trim().chars().take(500).collect::<String>()
    } else {
        String::new()
    };
    let store = state.store.clone();
    let (m, p, at) = (claims.m.clone(), claims.p.clone(), now() as i64);
    let saved = tokio::task::spawn_blocking(move || {
        store.audited(at, &mut |s| {
            s.record_rsvp(&m, &p, response, &reason, at)?;
            let detail = format!("{p}: {response}");
            Ok(crate::store::NewAudit {
                action: "rsvp",
                target: Some(&m),
                detail: &detail,
                outcome: "ok",
                ..Default::default()
            }
            .owned())
        })
    })
    .await;
    match saved {
        Ok(Ok(())) => Redirect::to(&format!("/notice?token={}&saved=1", r.token)).into_response(),
        _ => refused("回复未能保存，请稍后再试。"),
    }
}
