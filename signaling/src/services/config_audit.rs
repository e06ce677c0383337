//! Configuration changes are audited (等保 2.0): the server remembers the
//! effective configuration it last started with, and at each start records
//! the keys that changed since (with their old and new values) in the audit
//! log, in the same transaction as it remembers the new one.

use std::collections::BTreeMap;

use huiyi_config::Config;

use crate::store::{NewAudit, Store};

const KEY: &str = "config";

/// Every key of the configuration as `section.key` → its value in TOML.
fn flatten(config: &Config) -> anyhow::Result<BTreeMap<String, String>> {
    fn walk(prefix: &str, value: &toml::Value, out: &mut BTreeMap<String, String>) {
        match value {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&key, v, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", &toml::Value::try_from(config)?, &mut out);
    Ok(out)
}

/// What changed between two flattened configurations, one `key: old → new` per line.
fn changes(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .map(|k| {
            let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(none)".into());
            format!("{k}: {} → {}", show(old.get(k)), show(new.get(k)))
        })
        .collect()
}

/// Records the configuration's changes since the last start (or the first
/// configuration) and remembers this one.
pub fn record_changes(store: &dyn Store, config: &Config) -> anyhow::Result<()> {
    let now = flatten(config)?;
    let text = serde_json::to_string(&now)?;
    let before: Option<BTreeMap<String, String>> =
        store.setting(KEY)?.and_then(|s| serde_json::from_str(&s).ok());
    let detail = match &before {
        None => "first start".to_string(),
        Some(old) => {
            let lines = changes(old, &now);
            if lines.is_empty() {
                return Ok(());
            }
            lines.join("\n")
        }
    };
    store.audited(crate::clock::unix_secs(), &mut |s| {
        s.set_setting(KEY, &text)?;
        Ok(NewAudit { action: "config.change", detail: &detail, outcome: "ok", ..Default::default() }.owned())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_keys_are_listed_with_both_values() {
        let a = flatten(&Config::default()).expect("flat");
        let mut config = Config::default();
        config.security.session_idle_mins = 15;
        let b = flatten(&config).expect("flat");
        assert_eq!(changes(&a, &b), vec!["security.session_idle_mins: 30 → 15".to_string()]);
        assert!(changes(&a, &a).is_empty());
    }
}
