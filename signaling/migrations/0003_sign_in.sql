-- Sign-in (签到): a participant confirms its presence as the meeting opens.
CREATE TABLE sign_ins (
    meeting     TEXT NOT NULL,
    participant TEXT NOT NULL,
    name        TEXT NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (meeting, participant)
);
