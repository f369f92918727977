-- A run of a robot that waits (the `wait` action, contract 0.1.2) ends 'parked': it holds its
-- stage's chain until one of the happenings in wake_on reaches the item (a JSON list of
-- "activity", "comment", "task", "change") or its due_at passes.
-- SQLite cannot change a CHECK constraint in place: the runs table is rebuilt.
CREATE TABLE runs_new (
    id TEXT PRIMARY KEY,
    robot_id TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    item_id INTEGER NOT NULL,
    stage_id TEXT NOT NULL,
    plugin_id TEXT NOT NULL,
    plugin_version TEXT,
    status TEXT NOT NULL CHECK (status IN ('waiting', 'pending', 'running', 'parked', 'succeeded', 'failed', 'cancelled', 'skipped')),
    attempt INTEGER NOT NULL DEFAULT 0,
    due_at INTEGER NOT NULL,
    lease_until INTEGER,
    started_at INTEGER,
    finished_at INTEGER,
    duration_us INTEGER,
    fuel_used INTEGER,
    logs TEXT NOT NULL DEFAULT '[]',
    return_values TEXT,
    error TEXT,
    created_at INTEGER NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0,
    entry_id INTEGER NOT NULL DEFAULT 0,
    entered_at INTEGER NOT NULL DEFAULT 0,
    wake_on TEXT
);
INSERT INTO runs_new (id, robot_id, entity_type, item_id, stage_id, plugin_id, plugin_version, status, attempt,
    due_at, lease_until, started_at, finished_at, duration_us, fuel_used, logs, return_values, error, created_at,
    seq, entry_id, entered_at)
SELECT id, robot_id, entity_type, item_id, stage_id, plugin_id, plugin_version, status, attempt,
    due_at, lease_until, started_at, finished_at, duration_us, fuel_used, logs, return_values, error, created_at,
    seq, entry_id, entered_at
FROM runs;
DROP TABLE runs;
ALTER TABLE runs_new RENAME TO runs;
CREATE INDEX runs_due ON runs (status, due_at);
CREATE INDEX runs_item ON runs (entity_type, item_id);
CREATE INDEX runs_seq ON runs (seq);
CREATE INDEX runs_entry ON runs (entry_id);
