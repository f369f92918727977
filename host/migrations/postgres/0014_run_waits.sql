-- A run of a robot that waits (the `wait` action, contract 0.1.2) ends 'parked': it holds its
-- stage's chain until one of the happenings in wake_on reaches the item (a JSON list of
-- "activity", "comment", "task", "change") or its due_at passes.
ALTER TABLE runs ADD COLUMN wake_on TEXT;
ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('waiting', 'pending', 'running', 'parked', 'succeeded', 'failed', 'cancelled', 'skipped'));
