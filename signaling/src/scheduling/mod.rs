//! Scheduling, as pure domain logic: recurrence, conflicts, the lifecycle of
//! a meeting. No database, no HTTP, no clock reads: every function that
//! depends on time takes `now`. Times are county-local (Asia/Shanghai, UTC+8
//! all year, no daylight saving), held as naive local date-times.
//!
//! The store (SQLite) and the REST API build on these types.

pub mod conflict;
pub mod ics;
pub mod lifecycle;
pub mod recurrence;

use chrono::{DateTime, FixedOffset, NaiveDateTime};

/// China Standard Time: UTC+8, no daylight saving.
pub fn county_offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// A county-local time from a Unix timestamp (seconds).
pub fn local_from_unix(secs: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp(secs, 0).map(|utc| utc.with_timezone(&county_offset()).naive_local())
}

/// Unix seconds of a county-local time: plain arithmetic, as the offset is
/// fixed (and so defined at the ends of the calendar too).
pub fn unix_from_local(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp() - i64::from(county_offset().local_minus_utc())
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn local_time_is_utc_plus_8_all_year() {
        for (month, day) in [(1, 15), (7, 15)] {
            let t =
                NaiveDate::from_ymd_opt(2026, month, day).and_then(|d| d.and_hms_opt(9, 0, 0)).expect("date");
            let secs = unix_from_local(t);
            assert_eq!(local_from_unix(secs), Some(t));
            let utc = DateTime::from_timestamp(secs, 0).expect("ts").naive_utc();
            assert_eq!(t - utc, chrono::Duration::hours(8), "no daylight saving in month {month}");
        }
    }

    #[test]
    fn the_ends_of_the_calendar_convert_without_a_panic() {
        // Found with fuzz/fuzz_targets/ics.rs: eight hours before this
        // local time is before chrono's first instant, and the conversion
        // through a `DateTime` panicked ("a fixed offset has no gaps").
        let first = DateTime::from_timestamp(-8_334_601_228_800, 0).expect("in chrono's range").naive_utc();
        assert_eq!(unix_from_local(first), -8_334_601_228_800 - 8 * 3600);
        assert_eq!(unix_from_local(NaiveDateTime::MAX), NaiveDateTime::MAX.and_utc().timestamp() - 8 * 3600);
    }
}
