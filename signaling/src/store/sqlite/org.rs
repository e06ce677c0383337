//! The organisation tree's integrity beyond foreign keys.

use rusqlite::{Connection, OptionalExtension};

use crate::store::StoreError;

/// A unit that is its own ancestor (a self-parent or a longer cycle), if
/// the tree has one: the walk up from every unit stops at the root or, on a
/// cycle, when it meets its start again (bounded by the number of units).
pub(super) fn first_cycle(conn: &Connection) -> Result<Option<String>, StoreError> {
    let found = conn
        .query_row(
            "WITH RECURSIVE up(start, at, depth) AS (
                 SELECT id, parent, 1 FROM org_units WHERE parent IS NOT NULL
                 UNION ALL
                 SELECT up.start, o.parent, up.depth + 1 FROM up JOIN org_units o ON o.id = up.at
                 WHERE up.at <> up.start AND o.parent IS NOT NULL
                   AND up.depth <= (SELECT COUNT(*) FROM org_units)
             )
             SELECT start FROM up WHERE at = start ORDER BY start LIMIT 1",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()?;
    Ok(found)
}
