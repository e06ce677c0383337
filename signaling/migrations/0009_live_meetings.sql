-- Version 9: a live meeting survives a server restart (issue 14). The
-- meeting's carried state (chair state, who was in it with their mutes and
-- roles; JSON, `meeting::core::Carried`) is written as it changes, and a
-- heartbeat while it runs. A row exists while the meeting is live or was
-- live when the server stopped; it goes when the meeting ends or empties.
CREATE TABLE live_meetings (
    meeting   TEXT PRIMARY KEY,
    state     TEXT NOT NULL,
    saved_at  INTEGER NOT NULL,
    heartbeat INTEGER NOT NULL
);
