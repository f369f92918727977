-- Triggers move an item into their stage when something happens to it (a field changes, a
-- comment is added, an integration calls a webhook...). `kind` is the trigger's JSON
-- definition; `code` copies its webhook or app code for lookup.
CREATE TABLE triggers (
    id TEXT PRIMARY KEY,
    entity_type TEXT NOT NULL,
    category_id BIGINT NOT NULL,
    stage_id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    code TEXT,
    condition TEXT,
    allow_backwards BIGINT NOT NULL DEFAULT 0,
    sort BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX triggers_pipeline ON triggers (entity_type, category_id);

-- Trigger codes an application registered (crm.automation.trigger.add), for admins to attach.
CREATE TABLE app_triggers (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
