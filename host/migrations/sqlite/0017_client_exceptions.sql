-- Phones and emails that never make a lead a repeat lead (the company's own switchboard, spam):
-- Bitrix24's repeat-lead exception list. Values are normalized as the matching reads them
-- (phones digits with a leading +, emails lower-cased); who added one is kept with it: an admin
-- (added_by), or a robot run with the item whose value it was.
CREATE TABLE client_exceptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('phone', 'email')),
    value TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    added_by INTEGER NOT NULL,
    run_id TEXT,
    entity_type TEXT,
    item_id INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (kind, value)
);
