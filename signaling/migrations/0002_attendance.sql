-- Attendance: every join and leave of a live meeting, as it happened.
CREATE TABLE attendance_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    meeting     TEXT NOT NULL,
    participant TEXT NOT NULL,
    name        TEXT NOT NULL,
    event       TEXT NOT NULL CHECK (event IN ('join', 'leave')),
    at          INTEGER NOT NULL,
    reason      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX attendance_by_meeting ON attendance_events (meeting, seq);
