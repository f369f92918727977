-- Custom fields (UF_CRM_*) per entity type. Values live in items.fields; `settings` and `list`
-- (an enumeration's items, with ids from the 'userfield_list_item' sequence) are JSON text.
CREATE TABLE userfields (
    id BIGINT PRIMARY KEY,
    entity_type TEXT NOT NULL,
    field_name TEXT NOT NULL,
    user_type TEXT NOT NULL,
    multiple BIGINT NOT NULL,
    mandatory BIGINT NOT NULL,
    sort BIGINT NOT NULL,
    xml_id TEXT,
    label TEXT NOT NULL,
    settings TEXT NOT NULL,
    list TEXT NOT NULL
);
CREATE UNIQUE INDEX userfields_name ON userfields (entity_type, field_name);
