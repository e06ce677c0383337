//! Exports: the attendance workbook (XLSX, with the meeting's roll calls),
//! an invitation's QR code, and each account's subscribable calendar feed.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rust_xlsxwriter::{Format, Workbook};

use super::api::{blocking, ApiError};
use super::attendance::{calendar_event, local_text, summary, urlencode, Line, HEADERS};
use super::meetings::may_see;
use crate::http::AppState;
use crate::store::{Account, RollCallRecord};

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/meetings/{id}/attendance.xlsx", get(xlsx))
        .route("/api/v1/meetings/{id}/invitations/{participant}/qr.svg", get(qr))
        .route("/api/v1/me/feed", get(my_feed))
        .route("/api/v1/feeds/{key}", get(feed))
}

async fn xlsx(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (title, lines) = summary(&state, &headers, id.clone()).await?;
    let roll_calls = blocking(state.store.clone(), move |s| s.roll_calls(&id)).await?;
    let roll_calls = roll_lines(&roll_calls);
    let bytes = workbook(&title, &lines, &roll_calls)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let disposition = format!(
        "attachment; filename=\"attendance.xlsx\"; filename*=UTF-8''{}",
        urlencode(&format!("签到-{title}.xlsx"))
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

/// One called venue of a roll call: when the roll call began, who, status,
/// called at, answered at.
type RollLine = [String; 5];

/// The lines of the roll-call sheet.
fn roll_lines(roll_calls: &[RollCallRecord]) -> Vec<RollLine> {
    let secs = |ms: Option<i64>| ms.map(|ms| ms / 1000);
    let mut out = Vec::new();
    for rc in roll_calls {
        let began = local_text(Some(rc.started_at_ms / 1000));
        for e in &rc.entries {
            let status = match e.status.as_str() {
                "answered" => "已应答",
                "no_answer" => "未应答",
                "not_joined" => "未入会",
                _ => "未点到",
            };
            out.push([
                began.clone(),
                e.name.clone(),
                status.to_string(),
                local_text(secs(e.called_at_ms)),
                local_text(secs(e.answered_at_ms)),
            ]);
        }
    }
    out
}

fn workbook(title: &str, lines: &[Line], roll: &[RollLine]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet().set_name("签到表")?;
    sheet.write_string_with_format(0, 0, title, &bold)?;
    for (c, h) in HEADERS.iter().enumerate() {
        sheet.write_string_with_format(1, c as u16, *h, &bold)?;
    }
    for (r, line) in lines.iter().enumerate() {
        for (c, cell) in line.cells().iter().enumerate() {
            sheet.write_string((r + 2) as u32, c as u16, cell)?;
        }
    }
    sheet.set_column_width(0, 24)?;
    for c in 4..7 {
        sheet.set_column_width(c, 20)?;
    }
    let sheet = book.add_worksheet().set_name("点名记录")?;
    for (c, h) in ["点名开始", "会场", "结果", "点名时间", "应答时间"].iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (r, line) in roll.iter().enumerate() {
        for (c, cell) in line.iter().enumerate() {
            sheet.write_string((r + 1) as u32, c as u16, cell)?;
        }
    }
    for c in [0, 3, 4] {
        sheet.set_column_width(c, 20)?;
    }
    sheet.set_column_width(1, 24)?;
    book.save_to_buffer()
}

/// The QR code of one invitation's join link (an SVG), for the console.
async fn qr(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, participant)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let links = super::attendance::invitation_links(&state, &headers, id).await?;
    let link = links
        .into_iter()
        .find(|i| i.participant == participant)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such invitation"))?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], super::notice::qr_svg(&link.link)).into_response())
}

/// The logged-in account's calendar feed address (a secret URL calendar
/// programs can subscribe to without logging in).
async fn my_feed(State(state): State<AppState>, account: Account) -> Result<Response, ApiError> {
    let key = format!("{}.{}", account.id, state.signer.tag(&format!("feed:{}", account.id)));
    let url = format!("{}/api/v1/feeds/{key}.ics", crate::server::public_base_url(&state.config));
    Ok(Json(serde_json::json!({"url": url})).into_response())
}

/// A calendar of the meetings the feed's account may see, from 90 days ago
/// to a year ahead.
async fn feed(State(state): State<AppState>, Path(key): Path<String>) -> Result<Response, ApiError> {
    let refused = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such calendar feed");
    let (id, tag) = key.strip_suffix(".ics").and_then(|k| k.split_once('.')).ok_or_else(refused)?;
    if !state.signer.check_tag(&format!("feed:{id}"), tag) {
        return Err(refused());
    }
    let id = id.to_string();
    let now = crate::clock::unix_secs();
    let today = crate::scheduling::local_from_unix(now).ok_or_else(refused)?;
    let (from, to) = (today - chrono::Duration::days(90), today + chrono::Duration::days(365));
    let (account, meetings) = blocking(state.store.clone(), move |s| {
        let account = s.accounts()?.into_iter().find(|a| a.id == id);
        Ok((account, s.meetings_between(from, to)?))
    })
    .await?;
    let account = account.ok_or_else(refused)?;
    let visible: Vec<_> = meetings.iter().filter(|m| may_see(&account, m).is_ok()).collect();
    let events: Vec<_> = visible.iter().map(|m| calendar_event(m)).collect();
    let body = crate::scheduling::ics::calendar(&events, now);
    Ok(([(header::CONTENT_TYPE, "text/calendar; charset=utf-8")], body).into_response())
}
