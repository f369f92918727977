-- A board column is one stage's newest items: without this index a stage with few items made
-- the database walk the type's items by id looking for them.
CREATE INDEX items_stage_newest ON items (entity_type, stage_id, id);
