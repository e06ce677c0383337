//! The organisation CSV import: the parser (`services::org::parse_csv`),
//! then, for what parses, the store's import in the transaction the HTTP
//! handler runs it in (rolled back here, so the store stays empty).
//!
//! Holds: what parses renders back to CSV that parses to the same units;
//! an import either fails whole or stores exactly the units, in order, as
//! a tree (every parent known, no unit its own ancestor); nothing panics.

#![no_main]

use huiyi_signaling::services::org::parse_csv;
use huiyi_signaling::store::{OrgUnit, SqliteStore, Store, StoreError};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static STORE: SqliteStore =
        SqliteStore::open(std::path::Path::new(":memory:")).expect("an in-memory store");
}

fn quoted(cell: &str) -> String {
    format!("\"{}\"", cell.replace('"', "\"\""))
}

fn render(units: &[OrgUnit]) -> String {
    let mut csv = String::from("id,parent,name,kind\n");
    for u in units {
        let parent = u.parent.as_deref().unwrap_or("");
        let cells = [quoted(&u.id), quoted(parent), quoted(&u.name), u.kind.as_str().to_string()];
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    csv
}

fn is_tree(units: &[OrgUnit]) -> bool {
    units.iter().all(|u| {
        let mut at = u;
        for _ in 0..=units.len() {
            let Some(parent) = &at.parent else { return true };
            match units.iter().find(|p| &p.id == parent) {
                Some(p) if p.id != u.id => at = p,
                _ => return false,
            }
        }
        false
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(units) = parse_csv(text) else { return };
    assert_eq!(parse_csv(&render(&units)), Ok(units.clone()), "the units round-trip through CSV");
    STORE.with(|store| {
        let mut stored = None;
        let result = store.audited(0, &mut |s| {
            let n = s.import_org(&units)?;
            assert_eq!(n, units.len());
            stored = Some(s.org_units()?);
            Err(StoreError::Invalid("rolled back by the fuzz target".into()))
        });
        match stored {
            Some(stored) => {
                assert_eq!(stored, units, "the store keeps the units as imported, in order");
                assert!(is_tree(&stored), "an imported organisation is a tree");
            }
            None => assert!(result.is_err()),
        }
        assert_eq!(store.org_units().map(|u| u.len()), Ok(0), "rolled back");
    });
});
