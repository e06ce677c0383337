//! Accounts, passwords and sessions (`[security]`): the 等保 2.0 level-3
//! controls an operator may tune. The defaults are what the standard asks.

use serde::{Deserialize, Serialize};

use crate::Problem;

/// Password and session policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Minutes without a request after which a console session ends.
    pub session_idle_mins: u32,
    /// Hours a console session lasts at most, however busy.
    pub session_hours: u32,
    /// Console sessions one account may hold at once; a new login ends the oldest.
    pub max_sessions: u32,
    /// Shortest password.
    pub password_min_length: u32,
    /// Days a password is good for before it must be changed; 0: never expires.
    pub password_max_age_days: u32,
    /// Earlier passwords a new one may not repeat.
    pub password_history: u32,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            session_idle_mins: 30,
            session_hours: 12,
            max_sessions: 3,
            password_min_length: 10,
            password_max_age_days: 90,
            password_history: 5,
        }
    }
}

impl SecurityConfig {
    /// Checks values that the types alone do not constrain.
    pub fn validate(&self, problems: &mut Vec<Problem>) {
        if !(1..=24 * 60).contains(&self.session_idle_mins) {
            problems.push(Problem::new("security.session_idle_mins", "must be between 1 and 1440"));
        }
        if !(1..=24 * 7).contains(&self.session_hours) {
            problems.push(Problem::new("security.session_hours", "must be between 1 and 168"));
        }
        if !(1..=100).contains(&self.max_sessions) {
            problems.push(Problem::new("security.max_sessions", "must be between 1 and 100"));
        }
        if !(8..=128).contains(&self.password_min_length) {
            problems.push(Problem::new("security.password_min_length", "must be between 8 and 128"));
        }
        if self.password_max_age_days > 3650 {
            problems.push(Problem::new("security.password_max_age_days", "must be at most 3650 (0: never)"));
        }
        if self.password_history > 24 {
            problems.push(Problem::new("security.password_history", "must be at most 24"));
        }
    }
}
