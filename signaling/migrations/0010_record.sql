-- Version 10: a scheduled meeting may be recorded automatically (issue 16):
-- the recording starts when the live meeting opens.
ALTER TABLE meetings ADD COLUMN record INTEGER NOT NULL DEFAULT 0;
