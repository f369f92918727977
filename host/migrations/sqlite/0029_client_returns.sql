-- Client returns (host/src/returns.rs): repeat-deal rules and reactivation policies, each on the
-- stage whose entry starts its wait, the rest of the rule as JSON; and the returns they schedule.
CREATE TABLE return_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_type TEXT NOT NULL,
    stage_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX return_rules_stage ON return_rules (entity_type, stage_id);

-- One return of one item by one rule. A chain is an item and the copies made from it: its id is
-- the first item's, so a policy can count how often the chain came back.
CREATE TABLE client_returns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('repeat_deal', 'reactivation')),
    entity_type TEXT NOT NULL,
    item_id INTEGER NOT NULL,
    chain_id INTEGER NOT NULL,
    contact_id INTEGER,
    company_id INTEGER,
    due_at INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'skipped', 'cancelled')),
    result_id INTEGER,
    reason TEXT,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX client_returns_due ON client_returns (status, due_at);
CREATE INDEX client_returns_item ON client_returns (entity_type, item_id, status);
CREATE INDEX client_returns_result ON client_returns (entity_type, result_id);
CREATE INDEX client_returns_chain ON client_returns (chain_id, kind, status);
CREATE INDEX client_returns_client ON client_returns (status, kind, contact_id, company_id);
