//! The calendar export (`scheduling::ics::calendar`, for `GET …/ics` and
//! the subscribable feeds) with hostile titles and agendas.
//!
//! Input: records (see `huiyi_fuzz::records`), one per event: start (Unix
//! seconds, county-local), minutes, sequence, cancelled (0/1), title,
//! agenda; the first record's first field is the stamp.
//!
//! Holds, as an RFC 5545 reader sees it: CRLF line ends only, no line over
//! 75 octets, folded lines unfold into known properties in the right
//! nesting, one VEVENT per event; each SUMMARY and DESCRIPTION has only
//! escaped `\ ; ,` and unescapes to the text with its line breaks as `\n`
//! and other control characters gone; nothing panics.

#![no_main]

use chrono::{DateTime, NaiveDateTime};
use huiyi_fuzz::{field, number, records};
use huiyi_signaling::scheduling::ics::{calendar, CalendarEvent};
use libfuzzer_sys::fuzz_target;

struct Event {
    uid: String,
    title: String,
    agenda: String,
    start: NaiveDateTime,
    end: NaiveDateTime,
    sequence: i64,
    cancelled: bool,
}

fn time(secs: i64) -> NaiveDateTime {
    DateTime::from_timestamp(secs, 0).unwrap_or_default().naive_utc()
}

/// What a calendar shows of a text: line breaks as breaks, no other controls.
fn shown(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n").chars().filter(|c| !c.is_control() || *c == '\n').collect()
}

/// An RFC 5545 TEXT value, unescaped; `None` if it has an unescaped `;`
/// or `,`, or a backslash that escapes nothing.
fn unescape(value: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                'n' | 'N' => out.push('\n'),
                c @ ('\\' | ';' | ',') => out.push(c),
                _ => return None,
            },
            ';' | ',' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

fn check(ics: &str, events: &[Event]) {
    let body = ics.strip_suffix("\r\n").expect("ends with CRLF");
    let mut lines: Vec<String> = Vec::new();
    for line in body.split("\r\n") {
        assert!(!line.contains(['\r', '\n']), "a bare CR or LF: {line:?}");
        assert!(line.len() <= 75, "a line over 75 octets: {line:?}");
        match line.strip_prefix(' ') {
            Some(rest) => lines.last_mut().expect("a continuation follows a line").push_str(rest),
            None => lines.push(line.to_string()),
        }
    }
    let mut event = None::<usize>;
    let mut seen = 0;
    for line in &lines {
        let (name, value) = line.split_once(':').expect("a property has a value");
        match (name, event) {
            ("BEGIN", None) if value == "VEVENT" => {
                event = Some(seen);
                seen += 1;
            }
            ("END", Some(_)) if value == "VEVENT" => event = None,
            ("BEGIN" | "END", None) if value == "VCALENDAR" => {}
            ("VERSION" | "PRODID" | "CALSCALE", None) => {}
            ("UID" | "DTSTAMP" | "DTSTART" | "DTEND" | "SEQUENCE" | "STATUS", Some(_)) => {}
            ("SUMMARY", Some(i)) => {
                let text = unescape(value).unwrap_or_else(|| panic!("SUMMARY badly escaped: {value:?}"));
                assert_eq!(text, shown(&events[i].title));
            }
            ("DESCRIPTION", Some(i)) => {
                let text = unescape(value).unwrap_or_else(|| panic!("DESCRIPTION badly escaped: {value:?}"));
                assert_eq!(text, shown(&events[i].agenda));
            }
            _ => panic!("an unexpected line {line:?}"),
        }
    }
    assert_eq!(seen, events.len(), "one VEVENT per event");
    assert!(event.is_none(), "every VEVENT ends");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut stamp = 0;
    let mut events = Vec::new();
    for (i, r) in records(text).take(16).enumerate() {
        if i == 0 {
            stamp = number(&r, 0);
            continue;
        }
        let start = time(number(&r, 0));
        let minutes: i64 = number(&r, 1);
        events.push(Event {
            uid: format!("m{i}x{}", start.and_utc().timestamp()),
            start,
            end: start.checked_add_signed(chrono::Duration::minutes(minutes % 1440)).unwrap_or(start),
            sequence: number(&r, 2),
            cancelled: field(&r, 3) == "1",
            title: field(&r, 4).to_string(),
            agenda: field(&r, 5).to_string(),
        });
    }
    let entries: Vec<CalendarEvent<'_>> = events
        .iter()
        .map(|e| CalendarEvent {
            uid: &e.uid,
            title: &e.title,
            description: &e.agenda,
            start: e.start,
            end: e.end,
            sequence: e.sequence,
            cancelled: e.cancelled,
        })
        .collect();
    check(&calendar(&entries, stamp), &events);
});
