-- PostgreSQL twin of migrations/sqlite/0002_stage_ids_run_order.sql (numbering follows the order
-- the rows were inserted in, as SQLite's rowid does).
ALTER TABLE stages ADD COLUMN id BIGINT NOT NULL DEFAULT 0;
UPDATE stages SET id = numbered.n
FROM (SELECT entity_type, status_id,
             row_number() OVER (ORDER BY CASE entity_type WHEN 'deal' THEN 0 ELSE 1 END, sort) AS n
      FROM stages) AS numbered
WHERE stages.entity_type = numbered.entity_type AND stages.status_id = numbered.status_id;
CREATE UNIQUE INDEX stages_id ON stages (id);
INSERT INTO sequences (name, next_id) SELECT 'stage', COALESCE(MAX(id), 0) + 1 FROM stages;

ALTER TABLE runs ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
UPDATE runs SET seq = numbered.n
FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM runs) AS numbered
WHERE runs.id = numbered.id;
CREATE INDEX runs_seq ON runs (seq);
INSERT INTO sequences (name, next_id) SELECT 'run', COALESCE(MAX(seq), 0) + 1 FROM runs;
