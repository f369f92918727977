-- The amount as a column of its own, computed from the JSON, so lists on both databases name it
-- the same way (PostgreSQL stores it, to count from its index alone).
ALTER TABLE items ADD COLUMN opportunity REAL
    GENERATED ALWAYS AS (json_extract(fields, '$.OPPORTUNITY')) VIRTUAL;
DROP INDEX items_stage_opportunity;
DROP INDEX items_opportunity;
CREATE INDEX items_stage_opportunity ON items (entity_type, stage_id, opportunity);
CREATE INDEX items_opportunity ON items (entity_type, opportunity);
