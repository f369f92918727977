-- The amount as a column of its own, kept by the database from the JSON. Lists filter, order,
-- count and sum by it; an index on a column (unlike one on an expression) lets PostgreSQL count
-- a stage's deals above an amount from the index alone, without reading the rows.
ALTER TABLE items ADD COLUMN opportunity double precision
    GENERATED ALWAYS AS ((fields::jsonb ->> 'OPPORTUNITY')::double precision) STORED;
DROP INDEX items_stage_opportunity;
DROP INDEX items_opportunity;
CREATE INDEX items_stage_opportunity ON items (entity_type, stage_id, opportunity);
CREATE INDEX items_opportunity ON items (entity_type, opportunity);
