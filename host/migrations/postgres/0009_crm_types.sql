-- Smart-process (SPA) types an admin defines at run time. Their items, pipelines and stages
-- live in the shared tables under the entity type name `dynamic_{entity_type_id}`.
CREATE TABLE crm_types (
    id BIGINT PRIMARY KEY,
    entity_type_id BIGINT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_by BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
