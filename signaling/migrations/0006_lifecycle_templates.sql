-- The secretary's hand on the lifecycle, and meeting templates.
-- `started_at` and `ended_at` exist since 0001 (TEXT affinity); they hold
-- Unix seconds and are read with CAST(... AS INTEGER). The 0001 `cancelled`
-- flag is superseded by the time of the cancellation.
ALTER TABLE meetings ADD COLUMN cancelled_at INTEGER;
UPDATE meetings SET cancelled_at = created_at WHERE cancelled = 1;

CREATE TABLE templates (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    -- title, agenda, chair, participants, duration_min, open_before_min as JSON
    body TEXT NOT NULL,
    created_by TEXT,
    created_at INTEGER NOT NULL
);
