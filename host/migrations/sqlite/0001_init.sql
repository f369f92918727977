-- Users act through tokens: webhook tokens for the Bitrix24-style REST API, admin tokens for /api.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE tokens (
    token TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL CHECK (kind IN ('webhook', 'admin')),
    created_at INTEGER NOT NULL
);

-- Per entity type id counters, so ids stay dense and never reused after a delete.
CREATE TABLE sequences (
    name TEXT PRIMARY KEY,
    next_id INTEGER NOT NULL
);

-- Pipelines ("categories" in Bitrix24) and their ordered stages.
CREATE TABLE categories (
    entity_type TEXT NOT NULL,
    id INTEGER NOT NULL,
    name TEXT NOT NULL,
    sort INTEGER NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (entity_type, id)
);

CREATE TABLE stages (
    entity_type TEXT NOT NULL,
    category_id INTEGER NOT NULL,
    status_id TEXT NOT NULL,
    name TEXT NOT NULL,
    sort INTEGER NOT NULL,
    semantics TEXT NOT NULL CHECK (semantics IN ('P', 'S', 'F')),
    PRIMARY KEY (entity_type, status_id)
);

-- CRM items of every entity type. System fields are columns; the rest is a JSON object.
CREATE TABLE items (
    entity_type TEXT NOT NULL,
    id INTEGER NOT NULL,
    category_id INTEGER,
    stage_id TEXT,
    fields TEXT NOT NULL,
    created_by INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (entity_type, id)
);
CREATE INDEX items_stage ON items (entity_type, stage_id);

CREATE TABLE timeline_comments (
    id INTEGER PRIMARY KEY,
    entity_type TEXT NOT NULL,
    item_id INTEGER NOT NULL,
    author_id INTEGER NOT NULL,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX timeline_comments_item ON timeline_comments (entity_type, item_id);

-- Every change to an item, written in the transaction that made it; the automation engine's input.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_type TEXT NOT NULL,
    item_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX events_item ON events (entity_type, item_id);

-- Installed action plugins. The component itself lives here so every host sharing the database
-- can load it; compiled code is cached on each host's disk.
CREATE TABLE plugins (
    id TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    manifest TEXT NOT NULL,
    wasm BLOB NOT NULL,
    builtin INTEGER NOT NULL DEFAULT 0,
    installed_at INTEGER NOT NULL,
    PRIMARY KEY (id, version)
);

-- Robots: automation rules attached to a stage.
CREATE TABLE robots (
    id TEXT PRIMARY KEY,
    entity_type TEXT NOT NULL,
    category_id INTEGER NOT NULL,
    stage_id TEXT NOT NULL,
    name TEXT NOT NULL,
    plugin_id TEXT NOT NULL,
    config TEXT NOT NULL,
    sort INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX robots_stage ON robots (entity_type, stage_id, sort);

-- Robot runs: a pending run is a scheduler job; a finished one is the run record.
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    robot_id TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    item_id INTEGER NOT NULL,
    stage_id TEXT NOT NULL,
    plugin_id TEXT NOT NULL,
    plugin_version TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
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
    created_at INTEGER NOT NULL
);
CREATE INDEX runs_due ON runs (status, due_at);
CREATE INDEX runs_item ON runs (entity_type, item_id);

INSERT INTO categories (entity_type, id, name, sort, is_default) VALUES
    ('deal', 0, 'General', 100, 1),
    ('lead', 0, 'Leads', 100, 1);

INSERT INTO stages (entity_type, category_id, status_id, name, sort, semantics) VALUES
    ('deal', 0, 'NEW', 'New', 10, 'P'),
    ('deal', 0, 'PREPARATION', 'Preparing documents', 20, 'P'),
    ('deal', 0, 'PREPAYMENT_INVOICE', 'Invoice', 30, 'P'),
    ('deal', 0, 'EXECUTING', 'In progress', 40, 'P'),
    ('deal', 0, 'FINAL_INVOICE', 'Final invoice', 50, 'P'),
    ('deal', 0, 'WON', 'Deal won', 60, 'S'),
    ('deal', 0, 'LOSE', 'Deal lost', 70, 'F'),
    ('deal', 0, 'APOLOGY', 'Analyze failure', 80, 'F'),
    ('lead', 0, 'NEW', 'Unassigned', 10, 'P'),
    ('lead', 0, 'IN_PROCESS', 'In progress', 20, 'P'),
    ('lead', 0, 'PROCESSED', 'Processed', 30, 'P'),
    ('lead', 0, 'JUNK', 'Junk lead', 40, 'F'),
    ('lead', 0, 'CONVERTED', 'Good lead', 50, 'S');

-- User 0 is the automation itself: robots act as it. User 1 is the first administrator.
INSERT INTO users (id, name, is_admin) VALUES (0, 'Automation', 0), (1, 'Administrator', 1);
