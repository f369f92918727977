-- Smart-process (SPA) types an admin defines at run time. Their items, pipelines and stages
-- live in the shared tables under the entity type name `dynamic_{entity_type_id}`.
CREATE TABLE crm_types (
    id INTEGER PRIMARY KEY,
    entity_type_id INTEGER NOT NULL UNIQUE,
    title TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_by INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_by INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
