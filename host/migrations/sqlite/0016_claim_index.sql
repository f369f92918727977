-- The scheduler claims the first due run in (due_at, seq) order: an index in that order lets it
-- stop at the first row instead of sorting every due run. It also serves what runs_due served.
DROP INDEX runs_due;
CREATE INDEX runs_claim ON runs (status, due_at, seq);
