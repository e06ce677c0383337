//! iCalendar (RFC 5545) for meetings, so calendars on PCs and phones show
//! them. Times are written in UTC (`Z`), converted from county-local time.

use chrono::NaiveDateTime;

use crate::scheduling::unix_from_local;

/// What a calendar entry shows.
pub struct CalendarEvent<'a> {
    /// Stable id (the meeting id).
    pub uid: &'a str,
    /// Title.
    pub title: &'a str,
    /// Agenda.
    pub description: &'a str,
    /// County-local start.
    pub start: NaiveDateTime,
    /// County-local end.
    pub end: NaiveDateTime,
    /// Version, so updates replace the old entry.
    pub sequence: i64,
    /// Called off (the calendar shows it cancelled).
    pub cancelled: bool,
}

fn utc(t: NaiveDateTime) -> String {
    chrono::DateTime::from_timestamp(unix_from_local(t), 0)
        .map(|d| d.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_default()
}

/// Escapes text values (RFC 5545 §3.3.11): a line break of any kind (CR,
/// LF, CRLF) becomes `\n`; other control characters are dropped, so no
/// text can start a content line of its own.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Folds a content line at 75 octets, on character boundaries (§3.1).
fn fold(line: &str) -> String {
    let mut out = String::new();
    let mut len = 0;
    for c in line.chars() {
        if len + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            len = 1;
        }
        out.push(c);
        len += c.len_utf8();
    }
    out.push_str("\r\n");
    out
}

/// A calendar with these events; `stamp` is when it was made (Unix s).
pub fn calendar(events: &[CalendarEvent<'_>], stamp: i64) -> String {
    let stamp = chrono::DateTime::from_timestamp(stamp, 0)
        .map(|d| d.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_default();
    let mut out =
        String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Huiyi//会议//ZH\r\nCALSCALE:GREGORIAN\r\n");
    for e in events {
        out.push_str("BEGIN:VEVENT\r\n");
        out.push_str(&fold(&format!("UID:{}@huiyi", e.uid)));
        out.push_str(&format!(
            "DTSTAMP:{stamp}\r\nDTSTART:{}\r\nDTEND:{}\r\nSEQUENCE:{}\r\n",
            utc(e.start),
            utc(e.end),
            e.sequence
        ));
        if e.cancelled {
            out.push_str("STATUS:CANCELLED\r\n");
        }
        out.push_str(&fold(&format!("SUMMARY:{}", text(e.title))));
        if !e.description.is_empty() {
            out.push_str(&fold(&format!("DESCRIPTION:{}", text(e.description))));
        }
        out.push_str("END:VEVENT\r\n");
    }
    out.push_str("END:VCALENDAR\r\n");
    out
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn writes_utc_times_escapes_and_folds() {
        let t = |h| NaiveDate::from_ymd_opt(2026, 12, 7).and_then(|d| d.and_hms_opt(h, 0, 0)).expect("valid");
        let agenda = "一、传达上级文件；二、部署工作, 三、其他".repeat(3);
        let ics = calendar(
            &[CalendarEvent {
                uid: "m1",
                title: "周例会",
                description: &agenda,
                start: t(9),
                end: t(10),
                sequence: 2,
                cancelled: false,
            }],
            0,
        );
        assert!(ics.contains("DTSTART:20261207T010000Z"), "09:00 in the county is 01:00 UTC: {ics}");
        assert!(ics.contains("DTEND:20261207T020000Z"));
        assert!(ics.contains("SUMMARY:周例会\r\n"));
        assert!(ics.contains("SEQUENCE:2"));
        assert!(ics.contains("\\,"), "commas escaped");
        assert_eq!(text("a\rDTSTART:x\r\nb\u{7}c"), "a\\nDTSTART:x\\nbc", "no line of its own");
        assert!(ics.lines().all(|l| l.len() <= 76), "lines folded at 75 octets");
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\n") && ics.ends_with("END:VCALENDAR\r\n"));
    }
}
