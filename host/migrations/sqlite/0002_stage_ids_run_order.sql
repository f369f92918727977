-- Stages get the numeric ids crm.status.* speaks of; runs get a sequence number so records created
-- in the same millisecond still list in the order they were made. Both come from `sequences`.
ALTER TABLE stages ADD COLUMN id BIGINT NOT NULL DEFAULT 0;
UPDATE stages SET id = rowid;
CREATE UNIQUE INDEX stages_id ON stages (id);
INSERT INTO sequences (name, next_id) SELECT 'stage', COALESCE(MAX(id), 0) + 1 FROM stages;

ALTER TABLE runs ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
UPDATE runs SET seq = rowid;
CREATE INDEX runs_seq ON runs (seq);
INSERT INTO sequences (name, next_id) SELECT 'run', COALESCE(MAX(seq), 0) + 1 FROM runs;
