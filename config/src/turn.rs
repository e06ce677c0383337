//! TURN relays (`[turn]`): for venues that reach nothing but TCP 443, a
//! coturn server relays their media (issue 13). Huiyi gives each
//! participant time-limited credentials of coturn's shared-secret scheme
//! (`use-auth-secret`): username `expiry:participant`, password
//! base64(HMAC-SHA1(secret, username)). Off while `urls` is empty.

use serde::{Deserialize, Serialize};

use crate::Problem;

/// The TURN servers handed to clients, and the secret shared with them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TurnConfig {
    /// TURN URLs as clients use them, e.g.
    /// `turns:turn.example.gov.cn:443?transport=tcp`, `turn:10.1.2.3:3478`.
    /// Empty: no TURN (the default).
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret` (at least 16 characters). Better set
    /// by `HUIYI_TURN_SECRET` than in the file.
    pub secret: String,
    /// How long handed-out credentials stay valid, minutes.
    pub ttl_mins: u32,
    /// coturn's `realm` (printed by `huiyi turn-config`).
    pub realm: String,
}

impl Default for TurnConfig {
    fn default() -> Self {
        Self { urls: Vec::new(), secret: String::new(), ttl_mins: 720, realm: "huiyi".into() }
    }
}

impl TurnConfig {
    /// TURN is configured.
    pub fn enabled(&self) -> bool {
        !self.urls.is_empty()
    }

    /// Checks values that the types alone do not constrain.
    pub fn validate(&self, problems: &mut Vec<Problem>) {
        for url in &self.urls {
            let scheme_ok = url.starts_with("turn:") || url.starts_with("turns:");
            if !scheme_ok || url.len() < 8 || url.chars().any(char::is_whitespace) {
                problems.push(Problem::new("turn.urls", format!("{url:?} is not a turn: or turns: URL")));
            }
        }
        if self.enabled() && self.secret.chars().count() < 16 {
            problems
                .push(Problem::new("turn.secret", "must have at least 16 characters when turn.urls is set"));
        }
        if !(5..=7 * 24 * 60).contains(&self.ttl_mins) {
            problems.push(Problem::new("turn.ttl_mins", "must be between 5 and 10080 (a week)"));
        }
        if self.realm.trim().is_empty() || self.realm.chars().any(char::is_whitespace) {
            problems.push(Problem::new("turn.realm", "must be one word, e.g. huiyi"));
        }
    }
}
