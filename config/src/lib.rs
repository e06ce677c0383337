//! Huiyi's typed configuration.
//!
//! Each part of the server owns one section ([`SfuConfig`], [`HttpConfig`],
//! [`LogConfig`]) with its defaults and a `validate()`; [`Config`] composes
//! them. Values come from four sources, later ones winning:
//!
//! 1. built-in defaults (so the server starts with no file at all),
//! 2. a TOML file (`--config huiyi.toml`),
//! 3. `HUIYI_*` environment variables: `HUIYI_SFU_UDP_PORT=41000` sets
//!    `sfu.udp_port`, `HUIYI_DATA_DIR=/srv/huiyi` sets `data_dir`,
//! 4. command-line overrides (`--set sfu.udp_port=41000`).
//!
//! Every problem is reported with its key path and the reason, e.g.
//! `sfu.udp_port: 70000 is not a port`, and the server refuses to start.

mod http;
mod limits;
mod log;
mod recording;
mod security;
mod sfu;
mod signaling;
mod turn;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::http::{HttpConfig, DEFAULT_HTTP_PORT};
pub use crate::limits::LimitsConfig;
pub use crate::log::{LogConfig, LogFormat};
pub use crate::recording::RecordingConfig;
pub use crate::security::SecurityConfig;
pub use crate::sfu::SfuConfig;
pub use crate::signaling::{LinkReuse, SignalingConfig};
pub use crate::turn::TurnConfig;

/// The whole server configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory for the database, generated certificates and other state.
    pub data_dir: PathBuf,
    /// The HTTP(S) listener.
    pub http: HttpConfig,
    /// The media plane.
    pub sfu: SfuConfig,
    /// Live meetings and signaling.
    pub signaling: SignalingConfig,
    /// Passwords and console sessions.
    pub security: SecurityConfig,
    /// TURN relays for venues that reach only TCP 443.
    pub turn: TurnConfig,
    /// Resource limits.
    pub limits: LimitsConfig,
    /// Recording of meetings.
    pub recording: RecordingConfig,
    /// Logging.
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            http: HttpConfig::default(),
            sfu: SfuConfig::default(),
            signaling: SignalingConfig::default(),
            security: SecurityConfig::default(),
            turn: TurnConfig::default(),
            limits: LimitsConfig::default(),
            recording: RecordingConfig::default(),
            log: LogConfig::default(),
        }
    }
}

/// The sections that environment variables may address (`HUIYI_<SECTION>_<KEY>`).
const SECTIONS: [&str; 8] = ["http", "sfu", "signaling", "security", "turn", "limits", "recording", "log"];

/// One thing wrong with the configuration, located by its key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `sfu.udp_port`.
    pub key: String,
    /// Why the value is refused.
    pub reason: String,
}

impl Problem {
    /// A problem at `key`.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { key: key.into(), reason: reason.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said.
        message: String,
    },
    /// One or more values are invalid.
    #[error("invalid configuration:\n  {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    fn from_problems(problems: Vec<Problem>) -> Result<(), ConfigError> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The problems, when the error is about values.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(p) => p,
            _ => &[],
        }
    }
}

/// Where a configuration comes from, besides the defaults.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// A TOML file.
    pub file: Option<PathBuf>,
    /// Environment variables; only those starting with `HUIYI_` are read.
    pub env: Vec<(String, String)>,
    /// `key.path=value` overrides from the command line.
    pub overrides: Vec<String>,
}

impl Sources {
    /// The file (if any), the process environment, and the given overrides.
    pub fn from_process(file: Option<PathBuf>, overrides: Vec<String>) -> Self {
        Self { file, env: std::env::vars().collect(), overrides }
    }
}

impl Config {
    /// Loads and validates the configuration from defaults and `sources`.
    pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let mut tree = toml::Table::new();
        if let Some(path) = &sources.file {
            tree = read_file(path)?;
        }
        for (name, value) in &sources.env {
            let Some(rest) = name.strip_prefix("HUIYI_") else {
                continue;
            };
            if rest == "CONFIG" || rest == "LOG" || rest == "DEV_ASSETS" {
                continue; // the config file path, log filters and the client-development switch are read elsewhere
            }
            let key = env_key(rest);
            set_path(&mut tree, &key, parse_value(value), &format!("environment {name}"), &mut problems);
        }
        for item in &sources.overrides {
            match item.split_once('=') {
                Some((key, value)) => {
                    let key = key.trim();
                    set_path(&mut tree, key, parse_value(value.trim()), "--set", &mut problems);
                }
                None => {
                    problems.push(Problem::new(item.clone(), "an override must look like key.path=value"))
                }
            }
        }
        ConfigError::from_problems(std::mem::take(&mut problems))?;
        let config = from_tree(tree)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses and validates a complete TOML document (used for sample files).
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        let tree: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: PathBuf::from("<string>"),
            message: e.to_string(),
        })?;
        let config = from_tree(tree)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every section.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.data_dir.as_os_str().is_empty() {
            problems.push(Problem::new("data_dir", "must not be empty"));
        }
        self.http.validate(&mut problems);
        self.sfu.validate(&mut problems);
        self.signaling.validate(&mut problems);
        self.security.validate(&mut problems);
        self.turn.validate(&mut problems);
        self.recording.validate(&mut problems);
        self.limits.validate(&mut problems);
        self.log.validate(&mut problems);
        ConfigError::from_problems(problems)
    }
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    text.parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax { path: path.to_owned(), message: e.to_string() })
}

fn from_tree(tree: toml::Table) -> Result<Config, ConfigError> {
    serde_path_to_error::deserialize(toml::Value::Table(tree)).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { "<root>".to_string() } else { key };
        ConfigError::Invalid(vec![Problem::new(key, e.into_inner().to_string().trim().to_string())])
    })
}

/// `SFU_UDP_PORT` → `sfu.udp_port`; `DATA_DIR` → `data_dir`.
fn env_key(rest: &str) -> String {
    let lower = rest.to_ascii_lowercase();
    for section in SECTIONS {
        if let Some(key) = lower.strip_prefix(section).and_then(|k| k.strip_prefix('_')) {
            return format!("{section}.{key}");
        }
    }
    lower
}

/// A TOML literal if it parses as one (`41000`, `true`, `["a", "b"]`), else a string.
/// A bare comma-separated list (`10.0.0.5,10.0.0.6`) becomes an array of strings.
fn parse_value(text: &str) -> toml::Value {
    if let Ok(table) = format!("v = {text}").parse::<toml::Table>() {
        if let Some(v) = table.get("v") {
            return v.clone();
        }
    }
    if text.contains(',') {
        return toml::Value::Array(
            text.split(',').map(|s| toml::Value::String(s.trim().to_string())).collect(),
        );
    }
    toml::Value::String(text.to_string())
}

fn set_path(
    tree: &mut toml::Table,
    key: &str,
    value: toml::Value,
    source: &str,
    problems: &mut Vec<Problem>,
) {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        problems.push(Problem::new(key, format!("is not a key path ({source})")));
        return;
    }
    let (last, sections) = parts.split_last().expect("split yields at least one part");
    let mut table = tree;
    for section in sections {
        let entry =
            table.entry(section.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match entry {
            toml::Value::Table(t) => table = t,
            _ => {
                problems.push(Problem::new(key, format!("{section} is not a section ({source})")));
                return;
            }
        }
    }
    table.insert(last.to_string(), value);
}

#[cfg(test)]
mod tests;
