//! Recurrence rules as `POST /api/v1/series` takes them: JSON with the
//! first meeting's times, the rule and the exceptions, checked and
//! expanded as the handler does (`check_times`, then
//! `scheduling::recurrence::expand`), and expanded once more without the
//! time check, as any other caller of `expand` might.
//!
//! Holds: the rule round-trips as JSON; an expansion is refused with a
//! reason or keeps every promise of the rule (count, end date, interval,
//! weekdays, day of month, length, exceptions, the cap); nothing panics.

#![no_main]

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike, Weekday};
use huiyi_signaling::scheduling::recurrence::{
    expand, End, Exception, Frequency, MonthDay, Occurrence, Rule, MAX_OCCURRENCES,
};
use huiyi_signaling::services::meetings::check_times;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;

#[derive(Deserialize)]
struct Series {
    start: NaiveDateTime,
    end: NaiveDateTime,
    rule: Rule,
    #[serde(default)]
    exceptions: BTreeMap<NaiveDate, Exception>,
}

/// The Monday of `d`'s week (None at the very start of the calendar).
fn monday(d: NaiveDate) -> Option<NaiveDate> {
    d.checked_sub_signed(Duration::days(i64::from(d.weekday().num_days_from_monday())))
}

fn months(d: NaiveDate) -> i64 {
    i64::from(d.year()) * 12 + i64::from(d.month0())
}

fn last_of_month(d: NaiveDate) -> bool {
    d.succ_opt().is_none_or(|next| next.month() != d.month())
}

fn check(s: &Series, occurrences: &[Occurrence]) {
    let length = s.end - s.start;
    let rule = &s.rule;
    assert!(!occurrences.is_empty() && occurrences.len() <= MAX_OCCURRENCES, "{}", occurrences.len());
    if let End::Count(n) = rule.end {
        assert_eq!(occurrences.len(), n as usize, "as many as counted");
    }
    let first = occurrences[0].date;
    assert!(first >= s.start.date(), "none before the start");
    for pair in occurrences.windows(2) {
        assert!(pair[0].date < pair[1].date, "in order, no date twice");
    }
    let interval = i64::from(rule.interval);
    for o in occurrences {
        if let End::Until(until) = rule.end {
            assert!(o.date <= until, "none after the end date");
        }
        match &rule.frequency {
            Frequency::Daily => assert_eq!((o.date - first).num_days() % interval, 0, "every N days"),
            Frequency::Weekly { weekdays } => {
                let days: &[Weekday] = if weekdays.is_empty() { &[s.start.weekday()] } else { weekdays };
                assert!(days.contains(&o.date.weekday()), "on the rule's weekdays");
                if let (Some(a), Some(b)) = (monday(o.date), monday(s.start.date())) {
                    assert_eq!((a - b).num_weeks() % interval, 0, "every N weeks");
                }
            }
            Frequency::Monthly { day } => {
                assert_eq!((months(o.date) - months(s.start.date())) % interval, 0, "every N months");
                match day {
                    MonthDay::Last => assert!(last_of_month(o.date), "the month's last day"),
                    MonthDay::Day(d) => assert!(
                        o.date.day() == *d || (o.date.day() < *d && last_of_month(o.date)),
                        "the day, or the last of a shorter month"
                    ),
                }
            }
        }
        match s.exceptions.get(&o.date) {
            Some(Exception::Moved { start, end }) => {
                assert_eq!((o.start, o.end, o.cancelled), (*start, *end, false))
            }
            other => {
                assert_eq!(o.start, o.date.and_time(s.start.time()), "at the first meeting's time");
                // (A leap second, `14:00:60`, counts once in the first length, not after.)
                if s.start.nanosecond() < 1_000_000_000 {
                    assert_eq!(o.end - o.start, length, "as long as the first meeting");
                }
                assert_eq!(o.cancelled, matches!(other, Some(Exception::Cancelled)));
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = serde_json::from_slice::<Series>(data) else { return };
    let json = serde_json::to_string(&s.rule).expect("a rule serialises");
    assert_eq!(serde_json::from_str::<Rule>(&json).expect("its JSON parses"), s.rule, "rules round-trip");
    // As the handler does: the first meeting's times are checked first.
    if check_times(s.start, s.end).is_ok() {
        match expand(s.start, s.end - s.start, &s.rule, &s.exceptions) {
            Ok(occurrences) => {
                check(&s, &occurrences);
                for o in &occurrences {
                    let _ = check_times(o.start, o.end);
                }
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    // Any caller: times anywhere in chrono's range.
    if let Ok(occurrences) = expand(s.start, s.end - s.start, &s.rule, &s.exceptions) {
        check(&s, &occurrences);
    }
});
