//! Attendance (who joined when, who left, who never came, who signed in or
//! asked for leave), as JSON, CSV and an Excel workbook with the meeting's
//! roll calls.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rust_xlsxwriter::{Format, Workbook, Worksheet};

use super::common::AppState;
use super::common::{allow, blocking, local_text, urlencode, ApiError};
use crate::permissions::Permission;
use crate::services::attendance::{self, Line, Presence, Reply};
use crate::services::text::xlsx_cell;
use crate::store::{Account, RollCallRecord};

/// Column headers of the attendance sheet (CSV and XLSX).
pub(super) const HEADERS: [&str; 8] =
    ["参会单位/人员", "状态", "回复", "请假事由", "签到时间", "首次入会", "最后离会", "入会次数"];

/// A line as the sheet's cells, in [`HEADERS`] order.
pub(crate) fn cells(line: &Line) -> [String; 8] {
    let status = match line.status {
        Presence::Present => "在会",
        Presence::Left => "已离会",
        Presence::Absent => "缺席",
    };
    let rsvp = match line.rsvp {
        Some(Reply::Confirmed) => "确认参会",
        Some(Reply::Leave) => "请假",
        None => "未回复",
    };
    [
        line.name.clone(),
        status.into(),
        rsvp.into(),
        line.leave_reason.clone().unwrap_or_default(),
        local_text(line.signed_in),
        local_text(line.first_join),
        local_text(line.last_leave),
        line.joins.to_string(),
    ]
}

pub(super) async fn summary(
    state: &AppState,
    account: Account,
    id: String,
) -> Result<(String, Vec<Line>), ApiError> {
    let (meeting, org, events, sign_ins, rsvps) = blocking(state.store.clone(), move |s| {
        Ok((s.meeting(&id)?, s.all_org_units()?, s.attendance(&id)?, s.sign_ins(&id)?, s.rsvps(&id)?))
    })
    .await?;
    allow(&account, Permission::ReadAttendance, Some(&meeting))?;
    let lines = attendance::summarize(&meeting, &org, &events, &sign_ins, &rsvps);
    Ok((meeting.title, lines))
}

pub(super) async fn attendance(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (title, lines) = summary(&state, account, id).await?;
    Ok(Json(serde_json::json!({"title": title, "participants": lines})).into_response())
}

pub(super) async fn attendance_csv(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let actor = account.id.clone();
    let (title, lines) = summary(&state, account, id.clone()).await?;
    super::common::record_export(&state, actor, "attendance.export_csv", id).await?;
    let csv = csv(&lines);
    let disposition = format!(
        "attachment; filename=\"attendance.csv\"; filename*=UTF-8''{}",
        urlencode(&format!("签到-{title}.csv"))
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        csv,
    )
        .into_response())
}

/// The attendance sheet as CSV: a BOM (so Excel reads UTF-8), the headers,
/// then one line per participant, every cell quoted.
pub(crate) fn csv(lines: &[Line]) -> String {
    let mut csv = format!("\u{feff}{}\r\n", HEADERS.join(","));
    for l in lines {
        let cells = cells(l).map(|c| crate::services::text::csv_cell(&c));
        csv.push_str(&cells.join(","));
        csv.push_str("\r\n");
    }
    csv
}

pub(super) async fn xlsx(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let actor = account.id.clone();
    let (title, lines) = summary(&state, account, id.clone()).await?;
    super::common::record_export(&state, actor, "attendance.export_xlsx", id.clone()).await?;
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
pub(crate) type RollLine = [String; 5];

/// The lines of the roll-call sheet.
pub(crate) fn roll_lines(roll_calls: &[RollCallRecord]) -> Vec<RollLine> {
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

pub(crate) fn workbook(
    title: &str,
    lines: &[Line],
    roll: &[RollLine],
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet().set_name("签到表")?;
    write_text(sheet, 0, 0, title, Some(&bold))?;
    for (c, h) in HEADERS.iter().enumerate() {
        sheet.write_string_with_format(1, c as u16, *h, &bold)?;
    }
    for (r, line) in lines.iter().enumerate() {
        for (c, cell) in cells(line).iter().enumerate() {
            write_text(sheet, (r + 2) as u32, c as u16, cell, None)?;
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
            write_text(sheet, (r + 1) as u32, c as u16, cell, None)?;
        }
    }
    for c in [0, 3, 4] {
        sheet.set_column_width(c, 20)?;
    }
    sheet.set_column_width(1, 24)?;
    book.save_to_buffer()
}

/// Writes text someone typed (a name, a title, a leave reason), without
/// the control characters a sheet cannot show ([`xlsx_cell`]). Text that
/// looks like the writer's own rich-text markup (`<r>…</r>`) goes in as a
/// one-run rich string: as a plain string the writer would copy it into
/// the workbook's XML unescaped, breaking the file or shifting every later
/// cell's text.
fn write_text(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    text: &str,
    format: Option<&Format>,
) -> Result<(), rust_xlsxwriter::XlsxError> {
    let text = xlsx_cell(text);
    if text.starts_with("<r>") && text.ends_with("</r>") {
        let plain = Format::new();
        let text = escape_unicode_escapes(&text);
        sheet.write_rich_string(row, col, &[(format.unwrap_or(&plain), text.as_str())])?;
    } else if let Some(format) = format {
        sheet.write_string_with_format(row, col, text, format)?;
    } else {
        sheet.write_string(row, col, text)?;
    }
    Ok(())
}

/// Text with each `_xHHHH_` escaped as `_x005F_xHHHH_`, so that a reader
/// does not decode it to a character (the writer does this for plain
/// strings, not for rich ones).
fn escape_unicode_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("_x") {
        let code = rest.get(i + 2..i + 7).filter(|c| c.len() == 5 && c.ends_with('_'));
        out.push_str(&rest[..i]);
        if code.is_some_and(|c| c[..4].chars().all(|h| h.is_ascii_hexdigit())) {
            out.push_str("_x005F");
        }
        out.push_str("_x");
        rest = &rest[i + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn shared_strings(xlsx: &[u8]) -> String {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(xlsx)).expect("a zip");
        let mut xml = String::new();
        zip.by_name("xl/sharedStrings.xml").expect("shared strings").read_to_string(&mut xml).expect("UTF-8");
        xml
    }

    #[test]
    fn control_characters_do_not_turn_into_other_text_in_the_workbook() {
        // Found by fuzz/fuzz_targets/attendance_export.rs: the writer
        // escapes NUL as `_x0000_`, so the text `_x0041` before it came out
        // as `_x0041_x0000_`, which Excel reads as "A" and "x0000_".
        let title = format!("$\0 \u{4}\u{1}_x0041{}", "\0".repeat(62));
        let xml = shared_strings(&workbook(&title, &[], &[]).expect("a workbook"));
        assert!(xml.contains("<t>$ _x0041</t>"), "{xml}");
    }

    #[test]
    fn text_like_rich_text_markup_stays_text() {
        // Seen while writing fuzz/fuzz_targets/attendance_export.rs (the
        // writer copies a string `<r>…</r>` into the XML as it is) and
        // confirmed with it: a leave reason that closed the shared string
        // and opened another broke the workbook, or shifted the text of
        // every later cell by one.
        let reason = "<r></t></si><si><t>injected</r>";
        let roll = vec![[String::new(), reason.to_string(), "已应答".into(), String::new(), String::new()]];
        let xml = shared_strings(&workbook("<r>标题</r>", &[], &roll).expect("a workbook"));
        assert!(!xml.contains("<si><t>injected"), "{xml}");
        assert!(xml.contains("&lt;r&gt;&lt;/t&gt;&lt;/si&gt;&lt;si&gt;&lt;t&gt;injected&lt;/r&gt;"), "{xml}");
        assert!(xml.contains("&lt;r&gt;标题&lt;/r&gt;"), "{xml}");
        let xml = shared_strings(&workbook("<r>_x0041_</r>", &[], &[]).expect("a workbook"));
        assert!(xml.contains("&lt;r&gt;_x005F_x0041_&lt;/r&gt;"), "not read back as A: {xml}");
        assert_eq!(xml.matches("<si>").count(), xml.matches("</si>").count());
    }
}
