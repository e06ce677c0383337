//! The attendance exports (签到表) with hostile names, leave reasons and
//! titles: the CSV (`…/attendance.csv`) and the Excel workbook
//! (`…/attendance.xlsx`, with the roll-call sheet), built from what the
//! live meeting and the notice page recorded (`services::attendance`).
//!
//! Input: records (see `huiyi_fuzz::records`); the first holds the title,
//! the others start with a kind: `i` invited (id, org name), `j`/`l` a
//! join/leave (id, name, Unix s), `s` a sign-in (id, Unix s), `r` a reply
//! to the notice (id, response, reason), `c` a roll-call entry (started
//! at ms, name, status, called at ms, answered at ms).
//!
//! Holds: the CSV reads back (a CSV reader, BOM stripped) as the header
//! and one record of eight fields per line, each the cell as written or,
//! for a cell that starts like a formula, the cell behind a `'`; the
//! workbook is a zip of well-formed XML whose shared strings, decoded,
//! hold every cell and the title, less control characters (or it is
//! refused for a cell over Excel's 32 767 characters); nothing panics.

#![no_main]

use std::collections::HashSet;
use std::io::Read;

use chrono::NaiveDate;
use huiyi_fuzz::{field, number, records};
use huiyi_signaling::fuzzing::{attendance_cells, attendance_csv, attendance_xlsx};
use huiyi_signaling::services::attendance::summarize;
use huiyi_signaling::store::{
    AttendanceEvent, MeetingRecord, OrgKind, OrgUnit, RollCallLine, RollCallRecord,
};
use libfuzzer_sys::fuzz_target;
use quick_xml::events::Event;

/// What a spreadsheet shows of a CSV cell the export wrote.
fn shown_in_csv(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

fn check_csv(csv: &str, expected: &[[String; 8]]) {
    let body = csv.strip_prefix('\u{feff}').expect("a BOM first, for Excel");
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(body.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("the CSV reads back")).collect();
    assert_eq!(rows.len(), expected.len() + 1, "the header and one record per line");
    for (row, cells) in rows[1..].iter().zip(expected) {
        assert_eq!(row.len(), 8, "eight fields: {row:?}");
        for (got, cell) in row.iter().zip(cells) {
            assert_eq!(got, shown_in_csv(cell));
        }
    }
}

/// What the workbook keeps of a text: no control characters but tab and
/// line feed, and no U+FFFE or U+FFFF (which the writer escapes as
/// `_xHHHH_`, ambiguously after a literal `_x0041`).
fn kept_in_xlsx(s: &str) -> String {
    s.chars()
        .filter(|c| (!c.is_control() || matches!(c, '\t' | '\n')) && !matches!(c, '\u{fffe}' | '\u{ffff}'))
        .collect()
}

/// OOXML's `_xHHHH_` escapes decoded (`_x005F_` is the underscore itself).
fn decode_escapes(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("_x") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let hex = tail.get(2..6).filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()));
        match hex.and_then(|h| u32::from_str_radix(h, 16).ok()).filter(|_| tail.get(6..7) == Some("_")) {
            Some(code) => {
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                rest = &tail[7..];
            }
            None => {
                out.push_str("_x");
                rest = &tail[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every string of the workbook's shared string table; every part well-formed.
fn shared_strings(xlsx: &[u8]) -> HashSet<String> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(xlsx)).expect("the workbook is a zip");
    let mut strings = HashSet::new();
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).expect("a readable part");
        let name = part.name().expect("a part has a name").to_string();
        let mut xml = String::new();
        part.read_to_string(&mut xml).expect("a part is UTF-8");
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut current: Option<String> = None;
        loop {
            match reader.read_event() {
                Ok(Event::Start(e)) if e.name().as_ref() == b"si" => current = Some(String::new()),
                Ok(Event::End(e)) if e.name().as_ref() == b"si" => {
                    strings.insert(decode_escapes(&current.take().expect("an <si> ends once")));
                }
                Ok(Event::Text(t)) => {
                    let text = t.unescape().unwrap_or_else(|e| panic!("{name}: bad text: {e}"));
                    if let Some(s) = current.as_mut() {
                        s.push_str(&text);
                    }
                }
                Ok(Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("{name} is not well-formed XML: {e}"),
            }
        }
    }
    strings
}

fn time(secs: i64) -> chrono::NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 12, 1).and_then(|d| d.and_hms_opt(9, 0, 0)).expect("a date")
        + chrono::Duration::seconds(secs % 86_400)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut all = records(text);
    let title = all.next().map(|r| field(&r, 0).to_string()).unwrap_or_default();
    let (mut invited, mut org, mut events, mut sign_ins, mut replies) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut roll = RollCallRecord {
        meeting: "m".into(),
        title: title.clone(),
        started_at_ms: 0,
        auto: false,
        entries: vec![],
    };
    for r in all.take(64) {
        let s = |i| field(&r, i).to_string();
        match field(&r, 0) {
            "i" => {
                invited.push(s(1));
                org.push(OrgUnit { id: s(1), parent: None, name: s(2), kind: OrgKind::Venue });
            }
            kind @ ("j" | "l") => events.push(AttendanceEvent {
                meeting: "m".into(),
                participant: s(1),
                name: s(2),
                event: if kind == "j" { "join".into() } else { "leave".into() },
                at: number(&r, 3),
                reason: String::new(),
            }),
            "s" => sign_ins.push((s(1), number(&r, 2))),
            "r" => replies.push((s(1), s(2), s(3))),
            "c" => {
                roll.started_at_ms = number(&r, 1);
                let ms = |i| field(&r, i).trim().parse().ok();
                roll.entries.push(RollCallLine {
                    participant: s(2),
                    name: s(2),
                    status: s(3),
                    called_at_ms: ms(4),
                    answered_at_ms: ms(5),
                });
            }
            _ => {}
        }
    }
    let meeting = MeetingRecord {
        id: "m".into(),
        title: title.clone(),
        agenda: String::new(),
        start: time(0),
        end: time(3600),
        chair: None,
        open_before_min: 30,
        participants: invited,
        version: 1,
        series: None,
        started_at: None,
        ended_at: None,
        cancelled_at: None,
        record: false,
    };
    let lines = summarize(&meeting, &org, &events, &sign_ins, &replies);
    let cells: Vec<[String; 8]> = lines.iter().map(attendance_cells).collect();
    check_csv(&attendance_csv(&lines), &cells);

    let names = roll.entries.iter().map(|e| e.name.clone());
    let wanted: Vec<String> = cells.iter().flatten().cloned().chain(names).chain([title.clone()]).collect();
    match attendance_xlsx(&title, &lines, &[roll]) {
        Ok(xlsx) => {
            let strings = shared_strings(&xlsx);
            for s in wanted.iter().map(|s| kept_in_xlsx(s)).filter(|s| !s.is_empty()) {
                assert!(strings.contains(&s), "the workbook lost {s:?}");
            }
        }
        Err(e) => {
            assert!(wanted.iter().any(|s| s.chars().count() > 32_767), "refused: {e}");
        }
    }
});
