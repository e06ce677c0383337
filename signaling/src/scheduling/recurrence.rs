//! Recurring meetings: daily, weekly (on chosen weekdays) or monthly, every
//! N periods, ending on a date or after a count; single occurrences can be
//! cancelled or moved. Expansion is bounded: a rule that would create more
//! than [`MAX_OCCURRENCES`] meetings is refused, not truncated.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Weekday};
use serde::{Deserialize, Serialize};

/// Most occurrences one rule may create (about ten years of a weekly meeting).
pub const MAX_OCCURRENCES: usize = 520;

/// How often.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "freq", rename_all = "snake_case")]
pub enum Frequency {
    /// Every `interval` days.
    Daily,
    /// Every `interval` weeks on these weekdays (empty: the start's weekday).
    Weekly {
        /// Weekdays.
        #[serde(default)]
        weekdays: Vec<Weekday>,
    },
    /// Every `interval` months on a day of the month.
    Monthly {
        /// The day.
        day: MonthDay,
    },
}

/// Which day of the month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonthDay {
    /// This day; in shorter months, the month's last day (the 31st → 30 April, 28/29 February).
    Day(u32),
    /// The last day of every month.
    Last,
}

/// When the series ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// The last date an occurrence may fall on (inclusive).
    Until(NaiveDate),
    /// This many occurrences.
    Count(u32),
}

/// A recurrence rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// How often.
    #[serde(flatten)]
    pub frequency: Frequency,
    /// Every N periods (1 = every period).
    #[serde(default = "one")]
    pub interval: u32,
    /// When it ends.
    pub end: End,
}

fn one() -> u32 {
    1
}

/// A change to one occurrence, keyed by the date it was scheduled on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Exception {
    /// This occurrence does not take place.
    Cancelled,
    /// This occurrence is moved (and may have another title).
    Moved {
        /// New start.
        start: NaiveDateTime,
        /// New end.
        end: NaiveDateTime,
    },
}

/// One meeting of a series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Occurrence {
    /// The date the rule placed it on (its identity in the series).
    pub date: NaiveDate,
    /// Start.
    pub start: NaiveDateTime,
    /// End.
    pub end: NaiveDateTime,
    /// Cancelled by the secretary.
    pub cancelled: bool,
}

/// Why a rule cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecurrenceError {
    /// The interval is 0 or absurd.
    #[error("the interval must be between 1 and 52")]
    BadInterval,
    /// A day of month outside 1–31.
    #[error("the day of the month must be between 1 and 31")]
    BadDay,
    /// Ends before it starts (or before the first day the rule names), or a count of 0.
    #[error("the series ends before its first meeting")]
    EndsBeforeStart,
    /// The meeting ends before it starts.
    #[error("a meeting must end after it starts")]
    EndBeforeStart,
    /// Too many occurrences.
    #[error("the rule would create more than {MAX_OCCURRENCES} meetings; shorten it")]
    TooMany,
}

/// Expands a series that starts at `start` and lasts `length` per meeting.
pub fn expand(
    start: NaiveDateTime,
    length: Duration,
    rule: &Rule,
    exceptions: &BTreeMap<NaiveDate, Exception>,
) -> Result<Vec<Occurrence>, RecurrenceError> {
    if length <= Duration::zero() {
        return Err(RecurrenceError::EndBeforeStart);
    }
    if !(1..=52).contains(&rule.interval) {
        return Err(RecurrenceError::BadInterval);
    }
    match rule.end {
        End::Count(0) => return Err(RecurrenceError::EndsBeforeStart),
        End::Until(d) if d < start.date() => return Err(RecurrenceError::EndsBeforeStart),
        _ => {}
    }
    if let Frequency::Monthly { day: MonthDay::Day(d) } = rule.frequency {
        if !(1..=31).contains(&d) {
            return Err(RecurrenceError::BadDay);
        }
    }
    let time = start.time();
    let mut dates = Vec::new();
    let push = |d: NaiveDate, dates: &mut Vec<NaiveDate>| -> Result<bool, RecurrenceError> {
        match rule.end {
            End::Until(until) if d > until => return Ok(false),
            End::Count(n) if dates.len() >= n as usize => return Ok(false),
            _ => {}
        }
        if dates.len() >= MAX_OCCURRENCES {
            return Err(RecurrenceError::TooMany);
        }
        dates.push(d);
        Ok(true)
    };
    let interval = i64::from(rule.interval);
    match &rule.frequency {
        Frequency::Daily => {
            let mut d = start.date();
            while push(d, &mut dates)? {
                d += Duration::days(interval);
            }
        }
        Frequency::Weekly { weekdays } => {
            let days: Vec<Weekday> =
                if weekdays.is_empty() { vec![start.weekday()] } else { weekdays.clone() };
            let week0 = start.date() - Duration::days(i64::from(start.weekday().num_days_from_monday()));
            'weeks: for w in 0.. {
                let monday = week0 + Duration::weeks(w * interval);
                let mut in_week: Vec<NaiveDate> = days
                    .iter()
                    .map(|wd| monday + Duration::days(i64::from(wd.num_days_from_monday())))
                    .filter(|d| *d >= start.date())
                    .collect();
                in_week.sort();
                in_week.dedup();
                for d in in_week {
                    if !push(d, &mut dates)? {
                        break 'weeks;
                    }
                }
            }
        }
        Frequency::Monthly { day } => {
            for m in 0.. {
                let months = start.month0() as i64 + m * interval;
                let year = start.year() + (months / 12) as i32;
                let month = (months % 12) as u32 + 1;
                let last = last_day(year, month);
                let dom = match day {
                    MonthDay::Day(d) => (*d).min(last),
                    MonthDay::Last => last,
                };
                let d = NaiveDate::from_ymd_opt(year, month, dom).expect("day clamped to the month");
                if d < start.date() {
                    continue;
                }
                if !push(d, &mut dates)? {
                    break;
                }
            }
        }
    }
    if dates.is_empty() {
        // The end date comes before the first day the rule names.
        return Err(RecurrenceError::EndsBeforeStart);
    }
    Ok(dates
        .into_iter()
        .map(|date| {
            let planned_start = date.and_time(time);
            match exceptions.get(&date) {
                Some(Exception::Cancelled) => {
                    Occurrence { date, start: planned_start, end: planned_start + length, cancelled: true }
                }
                Some(Exception::Moved { start, end }) => {
                    Occurrence { date, start: *start, end: *end, cancelled: false }
                }
                None => {
                    Occurrence { date, start: planned_start, end: planned_start + length, cancelled: false }
                }
            }
        })
        .collect())
}

fn last_day(year: i32, month: u32) -> u32 {
    let (y, m) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    NaiveDate::from_ymd_opt(y, m, 1).and_then(|d| d.pred_opt()).map_or(28, |d| d.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d).and_then(|x| x.and_hms_opt(h, 0, 0)).expect("valid")
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid")
    }

    fn rule(frequency: Frequency, interval: u32, end: End) -> Rule {
        Rule { frequency, interval, end }
    }

    #[test]
    fn weekly_on_monday_until_a_date() {
        // 周一例会: every Monday 09:00–10:30 from 2026-11-30 to 2026-12-31.
        let r = rule(Frequency::Weekly { weekdays: vec![Weekday::Mon] }, 1, End::Until(date(2026, 12, 31)));
        let occ = expand(at(2026, 11, 30, 9), Duration::minutes(90), &r, &BTreeMap::new()).expect("ok");
        let dates: Vec<_> = occ.iter().map(|o| o.date).collect();
        assert_eq!(
            dates,
            vec![
                date(2026, 11, 30),
                date(2026, 12, 7),
                date(2026, 12, 14),
                date(2026, 12, 21),
                date(2026, 12, 28)
            ]
        );
        assert_eq!(occ[0].end, at(2026, 11, 30, 10) + Duration::minutes(30));
    }

    #[test]
    fn weekly_several_days_every_other_week_by_count() {
        // Tuesdays and Thursdays every two weeks, 5 meetings, starting on a Thursday.
        let r = rule(Frequency::Weekly { weekdays: vec![Weekday::Thu, Weekday::Tue] }, 2, End::Count(5));
        let occ = expand(at(2026, 12, 3, 15), Duration::hours(1), &r, &BTreeMap::new()).expect("ok");
        let dates: Vec<_> = occ.iter().map(|o| o.date).collect();
        assert_eq!(
            dates,
            vec![
                date(2026, 12, 3),
                date(2026, 12, 15),
                date(2026, 12, 17),
                date(2026, 12, 29),
                date(2026, 12, 31)
            ]
        );
    }

    #[test]
    fn monthly_on_the_31st_falls_back_to_month_ends() {
        let r = rule(Frequency::Monthly { day: MonthDay::Day(31) }, 1, End::Count(5));
        let occ = expand(at(2027, 1, 31, 14), Duration::hours(2), &r, &BTreeMap::new()).expect("ok");
        let dates: Vec<_> = occ.iter().map(|o| o.date).collect();
        assert_eq!(
            dates,
            vec![
                date(2027, 1, 31),
                date(2027, 2, 28),
                date(2027, 3, 31),
                date(2027, 4, 30),
                date(2027, 5, 31)
            ]
        );
        // A leap year's February.
        let r = rule(Frequency::Monthly { day: MonthDay::Last }, 1, End::Until(date(2028, 3, 1)));
        let occ = expand(at(2028, 1, 31, 14), Duration::hours(2), &r, &BTreeMap::new()).expect("ok");
        assert_eq!(
            occ.iter().map(|o| o.date).collect::<Vec<_>>(),
            vec![date(2028, 1, 31), date(2028, 2, 29)]
        );
    }

    #[test]
    fn monthly_across_the_year_end_every_quarter() {
        let r = rule(Frequency::Monthly { day: MonthDay::Day(15) }, 3, End::Count(3));
        let occ = expand(at(2026, 11, 15, 9), Duration::hours(1), &r, &BTreeMap::new()).expect("ok");
        assert_eq!(
            occ.iter().map(|o| o.date).collect::<Vec<_>>(),
            vec![date(2026, 11, 15), date(2027, 2, 15), date(2027, 5, 15)]
        );
    }

    #[test]
    fn cancelled_and_moved_occurrences() {
        let r = rule(Frequency::Daily, 1, End::Count(3));
        let mut ex = BTreeMap::new();
        ex.insert(date(2026, 12, 2), Exception::Cancelled);
        ex.insert(
            date(2026, 12, 3),
            Exception::Moved { start: at(2026, 12, 3, 15), end: at(2026, 12, 3, 16) },
        );
        let occ = expand(at(2026, 12, 1, 9), Duration::hours(1), &r, &ex).expect("ok");
        assert!(!occ[0].cancelled);
        assert!(occ[1].cancelled, "still listed, marked cancelled");
        assert_eq!((occ[2].start, occ[2].end), (at(2026, 12, 3, 15), at(2026, 12, 3, 16)));
    }

    #[test]
    fn bad_rules_are_refused_with_a_reason() {
        let s = at(2026, 12, 1, 9);
        let h = Duration::hours(1);
        let none = BTreeMap::new();
        assert_eq!(
            expand(s, h, &rule(Frequency::Daily, 1, End::Until(date(2040, 1, 1))), &none),
            Err(RecurrenceError::TooMany)
        );
        assert_eq!(
            expand(s, h, &rule(Frequency::Daily, 0, End::Count(3)), &none),
            Err(RecurrenceError::BadInterval)
        );
        assert_eq!(
            expand(s, h, &rule(Frequency::Daily, 1, End::Count(0)), &none),
            Err(RecurrenceError::EndsBeforeStart)
        );
        assert_eq!(
            expand(s, h, &rule(Frequency::Daily, 1, End::Until(date(2026, 11, 1))), &none),
            Err(RecurrenceError::EndsBeforeStart)
        );
        assert_eq!(
            expand(s, Duration::zero(), &rule(Frequency::Daily, 1, End::Count(1)), &none),
            Err(RecurrenceError::EndBeforeStart)
        );
        let bad_day = rule(Frequency::Monthly { day: MonthDay::Day(32) }, 1, End::Count(1));
        assert_eq!(expand(s, h, &bad_day, &none), Err(RecurrenceError::BadDay));
        // Exactly at the limit is fine.
        assert_eq!(
            expand(s, h, &rule(Frequency::Daily, 1, End::Count(MAX_OCCURRENCES as u32)), &none)
                .map(|v| v.len()),
            Ok(MAX_OCCURRENCES)
        );
    }

    #[test]
    fn a_rule_that_places_no_meeting_is_refused() {
        // Found by fuzz/fuzz_targets/recurrence.rs: from a Tuesday, Mondays
        // every 8 weeks until 31 December; the first such Monday is in
        // January, so the series was "created" with no meeting at all.
        let json = r#"{"start": "2026-11-10T09:00:00", "end": "2026-11-30T10:30:00", "rule": {"freq": "weekly", "weekdays": ["Mon"], "interval": 8, "end": {"until": "2026-12-31"}}}"#;
        let input: serde_json::Value = serde_json::from_str(json).expect("json");
        let rule: Rule = serde_json::from_value(input["rule"].clone()).expect("a rule");
        let (start, end) = (at(2026, 11, 10, 9), at(2026, 11, 30, 10) + Duration::minutes(30));
        assert_eq!(
            expand(start, end - start, &rule, &BTreeMap::new()),
            Err(RecurrenceError::EndsBeforeStart)
        );
        // With an hour-long first meeting, as the API takes it: the same.
        assert_eq!(
            expand(start, Duration::hours(1), &rule, &BTreeMap::new()),
            Err(RecurrenceError::EndsBeforeStart)
        );
    }

    #[test]
    fn rules_round_trip_as_json() {
        let r = rule(Frequency::Weekly { weekdays: vec![Weekday::Mon, Weekday::Fri] }, 1, End::Count(10));
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"freq": "weekly", "weekdays": ["Mon", "Fri"], "interval": 1, "end": {"count": 10}})
        );
        assert_eq!(serde_json::from_value::<Rule>(json).expect("back"), r);
    }
}
