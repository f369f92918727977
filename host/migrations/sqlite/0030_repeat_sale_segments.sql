-- Repeat-sales segments (host/src/segments.rs): each segment's settings as JSON; the deals the daily
-- job made, one per segment, client and the deal that put the client in the segment (the key
-- makes "never twice" hold even when two hosts run the job); and the job's runs, one per day.
CREATE TABLE repeat_sale_segments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    segment TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE segment_deals (
    segment_id INTEGER NOT NULL,
    client_type TEXT NOT NULL,
    client_id INTEGER NOT NULL,
    anchor_id INTEGER NOT NULL,
    deal_id INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (segment_id, client_type, client_id, anchor_id)
);
CREATE INDEX segment_deals_recent ON segment_deals (segment_id, client_type, client_id, created_at);

CREATE TABLE segment_runs (
    day INTEGER PRIMARY KEY,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    deals_created INTEGER NOT NULL DEFAULT 0
);

-- A stage's entries, newest first, for crm.stagehistory.list filtered by stage.
CREATE INDEX stage_history_stage ON stage_history (entity_type, stage_id, created_at);

-- An item's entries with their times: the segment scan takes each deal's latest from it. With the
-- time beside the owner, neither database walks the whole history by time to find one deal's last.
DROP INDEX stage_history_owner;
CREATE INDEX stage_history_owner ON stage_history (entity_type, owner_id, created_at);
