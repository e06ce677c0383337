//! A meeting as the secretary submits it (REST body, template, series
//! occurrence), and the rules that make it a valid record.

use chrono::{Datelike, NaiveDateTime};
use serde::Deserialize;

use crate::store::MeetingRecord;

/// A meeting as submitted.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingInput {
    /// Title.
    pub title: String,
    #[serde(default)]
    agenda: String,
    start: NaiveDateTime,
    end: NaiveDateTime,
    #[serde(default)]
    chair: Option<String>,
    #[serde(default)]
    participants: Vec<String>,
    #[serde(default = "thirty")]
    open_before_min: i64,
    /// Record automatically (录制).
    #[serde(default)]
    record: bool,
}

fn thirty() -> i64 {
    30
}

impl MeetingInput {
    /// The record this input makes, checked: id and version given; an
    /// error says what is wrong in words for the secretary.
    pub fn into_record(self, id: String, version: i64) -> Result<MeetingRecord, String> {
        check_times(self.start, self.end)?;
        if self.title.trim().is_empty() || self.title.chars().count() > 200 {
            return Err(String::from("the title must be 1 to 200 characters"));
        }
        if !super::text::is_plain(&self.title) || !super::text::is_multiline(&self.agenda) {
            return Err(String::from(
                "titles may not contain control characters (an agenda only line breaks)",
            ));
        }
        if !(0..=24 * 60).contains(&self.open_before_min) {
            return Err(String::from("open_before_min must be between 0 and 1440"));
        }
        if self.participants.len() > 1000 {
            return Err(String::from("at most 1000 participants"));
        }
        Ok(MeetingRecord {
            id,
            title: self.title,
            agenda: self.agenda,
            start: self.start,
            end: self.end,
            chair: self.chair,
            open_before_min: self.open_before_min,
            participants: self.participants,
            version,
            series: None,
            started_at: None,
            ended_at: None,
            cancelled_at: None,
            record: self.record,
        })
    }
}

/// The years a meeting may be in: checked before any date arithmetic, so no
/// extreme date reaches code that could overflow.
pub const YEARS: std::ops::RangeInclusive<i32> = 2000..=2099;

/// A meeting's times: within [`YEARS`], ending after it starts, at most a day.
pub fn check_times(start: NaiveDateTime, end: NaiveDateTime) -> Result<(), String> {
    if !YEARS.contains(&start.year()) || !YEARS.contains(&end.year()) {
        return Err(format!("meetings are between the years {} and {}", YEARS.start(), YEARS.end()));
    }
    if end <= start {
        return Err(String::from("the meeting must end after it starts"));
    }
    if end - start > chrono::Duration::hours(24) {
        return Err(String::from("a meeting lasts at most 24 hours"));
    }
    Ok(())
}
