-- Indexes for the lists integrations run most: by stage, by amount, by responsible person, by
-- date. The JSON expressions must read exactly as crm::query writes them, or PostgreSQL ignores them.
CREATE INDEX items_stage_opportunity ON items (entity_type, stage_id, ((fields::jsonb ->> 'OPPORTUNITY')::double precision));
CREATE INDEX items_opportunity ON items (entity_type, ((fields::jsonb ->> 'OPPORTUNITY')::double precision));
CREATE INDEX items_assigned ON items (entity_type, ((fields::jsonb ->> 'ASSIGNED_BY_ID')::double precision));
CREATE INDEX items_category_stage ON items (entity_type, category_id, stage_id);
CREATE INDEX items_created ON items (entity_type, created_at);
CREATE INDEX items_modified ON items (entity_type, updated_at);
DROP INDEX items_stage;
