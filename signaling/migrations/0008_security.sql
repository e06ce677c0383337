-- Version 8: 等保 2.0 level 3 (issue 11). Runs with foreign keys off (see
-- `migrate`), as SQLite's procedure for changing a table's constraints asks.

-- Three administrators: the system administrator (admin), the security
-- administrator (security) and the audit administrator (auditor). The
-- accounts table is rebuilt for the new role, with the password's age and
-- a change the account must make before anything else.
CREATE TABLE accounts_v8 (
    id                   TEXT PRIMARY KEY,
    username             TEXT NOT NULL UNIQUE,
    display_name         TEXT NOT NULL,
    role                 TEXT NOT NULL CHECK (role IN ('admin', 'security', 'secretary', 'chair', 'participant', 'auditor', 'venue')),
    org_unit             TEXT REFERENCES org_units(id),
    password_hash        TEXT NOT NULL,
    failed_logins        INTEGER NOT NULL DEFAULT 0,
    locked_until         INTEGER,
    created_at           INTEGER NOT NULL,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    password_changed_at  INTEGER
);
-- Existing passwords count as set at the upgrade: their age (expiry) starts now.
INSERT INTO accounts_v8 (id, username, display_name, role, org_unit, password_hash, failed_logins, locked_until, created_at, password_changed_at)
    SELECT id, username, display_name, role, org_unit, password_hash, failed_logins, locked_until, created_at,
           CAST(strftime('%s', 'now') AS INTEGER) FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_v8 RENAME TO accounts;

-- Earlier password hashes, so that a new password cannot repeat them.
CREATE TABLE password_history (
    account     TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    hash        TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX password_history_account ON password_history (account, at);

-- Sessions end when idle, not only when old.
ALTER TABLE sessions ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET last_seen = CAST(strftime('%s', 'now') AS INTEGER);

-- Tamper evidence: each record carries SHA-256 over the previous record's
-- hash and its own fields (`store::audit_chain`). Records written before
-- this version get theirs once, in order, when the store opens; after that
-- no field of a record changes.
ALTER TABLE audit_log ADD COLUMN hash TEXT;
DROP TRIGGER audit_log_no_update;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
WHEN OLD.hash IS NOT NULL OR NEW.seq IS NOT OLD.seq OR NEW.at IS NOT OLD.at OR NEW.actor IS NOT OLD.actor
    OR NEW.action IS NOT OLD.action OR NEW.target IS NOT OLD.target OR NEW.detail IS NOT OLD.detail
    OR NEW.source IS NOT OLD.source OR NEW.outcome IS NOT OLD.outcome
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);

-- Units are retired rather than deleted: past meetings keep their names.
ALTER TABLE org_units ADD COLUMN retired_at INTEGER;

-- A join link carries its epoch; re-issuing a participant's link bumps it
-- and the old link stops working.
CREATE TABLE link_epochs (
    meeting     TEXT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    participant TEXT NOT NULL,
    epoch       INTEGER NOT NULL,
    PRIMARY KEY (meeting, participant)
);

-- Server settings remembered between starts (the last configuration, to
-- audit its changes).
CREATE TABLE settings (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);
