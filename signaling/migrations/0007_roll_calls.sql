-- Roll calls (点名) of live meetings, kept with the other meeting records
-- (they were appended to records/rollcalls.jsonl before; the server imports
-- that file once on its first start with this schema).
CREATE TABLE roll_calls (
    id INTEGER PRIMARY KEY,
    meeting TEXT NOT NULL,
    title TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    auto INTEGER NOT NULL
);
CREATE INDEX roll_calls_meeting ON roll_calls (meeting, started_at_ms);

CREATE TABLE roll_call_entries (
    roll_call INTEGER NOT NULL REFERENCES roll_calls (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    participant TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('waiting', 'calling', 'answered', 'no_answer', 'not_joined')),
    called_at_ms INTEGER,
    answered_at_ms INTEGER,
    PRIMARY KEY (roll_call, seq)
);
