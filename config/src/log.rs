//! Logging (`[log]`).

use serde::{Deserialize, Serialize};

use crate::Problem;

/// How the server writes its `tracing` logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info` or `info,huiyi_sfu=debug`.
    pub level: String,
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
}

/// The shape of each log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".into(), format: LogFormat::Text }
    }
}

impl LogConfig {
    /// Checks values that the types alone do not constrain.
    pub fn validate(&self, problems: &mut Vec<Problem>) {
        let ok = !self.level.trim().is_empty()
            && self.level.split(',').all(|part| {
                let level = part.rsplit('=').next().unwrap_or("");
                matches!(
                    level.trim().to_ascii_lowercase().as_str(),
                    "trace" | "debug" | "info" | "warn" | "error" | "off"
                )
            });
        if !ok {
            problems.push(Problem::new(
                "log.level",
                format!("{:?} is not a filter like \"info\" or \"info,huiyi_sfu=debug\"", self.level),
            ));
        }
    }
}
