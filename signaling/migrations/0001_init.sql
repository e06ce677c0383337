-- Huiyi schema, version 1: organisation, accounts, sessions, meetings, audit.
-- Times are Unix seconds (UTC); meeting times are county-local ISO strings.

CREATE TABLE org_units (
    id          TEXT PRIMARY KEY,
    parent      TEXT REFERENCES org_units(id),
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('county', 'township', 'department', 'venue', 'person')),
    sort        INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'secretary', 'chair', 'participant', 'auditor', 'venue')),
    org_unit        TEXT REFERENCES org_units(id),
    password_hash   TEXT NOT NULL,
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    locked_until    INTEGER,
    created_at      INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    account     TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

CREATE TABLE meetings (
    id              TEXT PRIMARY KEY,
    title           TEXT NOT NULL,
    agenda          TEXT NOT NULL DEFAULT '',
    start_local     TEXT NOT NULL,
    end_local       TEXT NOT NULL,
    chair           TEXT REFERENCES accounts(id),
    open_before_min INTEGER NOT NULL DEFAULT 30,
    recurrence      TEXT,
    started_at      TEXT,
    ended_at        TEXT,
    cancelled       INTEGER NOT NULL DEFAULT 0,
    version         INTEGER NOT NULL DEFAULT 1,
    created_by      TEXT REFERENCES accounts(id),
    created_at      INTEGER NOT NULL
);

CREATE TABLE meeting_participants (
    meeting     TEXT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    org_unit    TEXT NOT NULL REFERENCES org_units(id),
    PRIMARY KEY (meeting, org_unit)
);

-- Append-only: the API has no update or delete for it.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor       TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    detail      TEXT NOT NULL DEFAULT '',
    source      TEXT,
    outcome     TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
