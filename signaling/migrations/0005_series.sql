-- Recurring meetings: each occurrence is a meeting of its own, tied to its series.
ALTER TABLE meetings ADD COLUMN series TEXT;
ALTER TABLE meetings ADD COLUMN occurrence_date TEXT;
CREATE INDEX meetings_by_series ON meetings (series, start_local);
