-- Replies to meeting notices: confirmed, or leave requested (请假) with a reason.
CREATE TABLE rsvps (
    meeting     TEXT NOT NULL,
    participant TEXT NOT NULL,
    response    TEXT NOT NULL CHECK (response IN ('confirmed', 'leave')),
    reason      TEXT NOT NULL DEFAULT '',
    at          INTEGER NOT NULL,
    PRIMARY KEY (meeting, participant)
);
