//! Roll-call records kept before they moved into the store: the server
//! imports `records/rollcalls.jsonl` once (all or nothing per line; torn
//! lines skipped), then renames it `rollcalls.jsonl.imported`.

use std::path::Path;

use serde::Deserialize;

use crate::store::{RollCallLine, RollCallRecord, Store, StoreError};

#[derive(Deserialize)]
struct Line {
    meeting: String,
    #[serde(default)]
    title: String,
    roll_call: LegacyRollCall,
}

#[derive(Deserialize)]
struct LegacyRollCall {
    entries: Vec<LegacyEntry>,
    #[serde(default)]
    auto: bool,
    started_at: i64,
}

#[derive(Deserialize)]
struct LegacyEntry {
    participant: String,
    name: String,
    status: String,
    called_at: Option<i64>,
    answered_at: Option<i64>,
}

const STATUSES: [&str; 5] = ["waiting", "calling", "answered", "no_answer", "not_joined"];

/// Imports `dir/rollcalls.jsonl` into the store if it is there; returns how
/// many roll calls were imported. Blocking.
pub fn import_legacy(store: &dyn Store, dir: &Path) -> Result<usize, StoreError> {
    let path = dir.join("rollcalls.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(0) };
    let mut n = 0;
    for (i, raw) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let Ok(line) = serde_json::from_str::<Line>(raw) else {
            tracing::warn!(line = i + 1, "rollcalls.jsonl: a line that does not parse is skipped");
            continue;
        };
        let entries: Vec<RollCallLine> = line
            .roll_call
            .entries
            .into_iter()
            .filter(|e| STATUSES.contains(&e.status.as_str()))
            .map(|e| RollCallLine {
                participant: e.participant,
                name: e.name,
                status: e.status,
                called_at_ms: e.called_at,
                answered_at_ms: e.answered_at,
            })
            .collect();
        store.record_roll_call(&RollCallRecord {
            meeting: line.meeting,
            title: line.title,
            started_at_ms: line.roll_call.started_at,
            auto: line.roll_call.auto,
            entries,
        })?;
        n += 1;
    }
    std::fs::rename(&path, dir.join("rollcalls.jsonl.imported"))
        .map_err(|e| StoreError::Db(format!("{}: {e}", path.display())))?;
    tracing::info!(roll_calls = n, "imported records/rollcalls.jsonl into the database");
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    #[test]
    fn imports_the_jsonl_once_and_skips_torn_lines() {
        let dir = std::env::temp_dir().join(format!("huiyi-rc-{}", crate::token::random_id(8)));
        std::fs::create_dir_all(&dir).expect("dir");
        let store = SqliteStore::open(&dir.join("db")).expect("store");
        let good = r#"{"meeting":"m1","title":"周例会","roll_call":{"entries":[{"participant":"v1","name":"城关镇","status":"answered","called_at":1000,"answered_at":2000},{"participant":"v2","name":"河口镇","status":"no_answer","called_at":3000,"answered_at":null}],"current":null,"auto":true,"timeout_secs":20,"started_at":900,"finished":true}}"#;
        std::fs::write(dir.join("rollcalls.jsonl"), format!("{good}\n{{\"meeting\":\"m1\",\"ro"))
            .expect("write");
        assert_eq!(import_legacy(&store, &dir).expect("import"), 1);
        let got = store.roll_calls("m1").expect("read");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].title, "周例会");
        assert_eq!(got[0].entries[0].status, "answered");
        assert_eq!(got[0].entries[1].answered_at_ms, None);
        assert!(!dir.join("rollcalls.jsonl").exists() && dir.join("rollcalls.jsonl.imported").exists());
        assert_eq!(import_legacy(&store, &dir).expect("again"), 0, "imported once");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
