-- Robots get Bitrix24's timing, conditions and chaining; runs remember the stage entry that
-- scheduled them (so a chain continues only within one stay in the stage) and may end
-- 'skipped' when their condition does not hold; a robot that waits for the one before it has a
-- 'waiting' run from the moment the item enters the stage.
ALTER TABLE robots ADD COLUMN timing TEXT NOT NULL DEFAULT '{"kind":"immediately"}';
ALTER TABLE robots ADD COLUMN condition TEXT;
ALTER TABLE robots ADD COLUMN after_previous BIGINT NOT NULL DEFAULT 0;
ALTER TABLE robots ADD COLUMN plugin_version TEXT;

ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('waiting', 'pending', 'running', 'succeeded', 'failed', 'cancelled', 'skipped'));
ALTER TABLE runs ADD COLUMN entry_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN entered_at BIGINT NOT NULL DEFAULT 0;
UPDATE runs SET entry_id = seq, entered_at = created_at;
CREATE INDEX runs_entry ON runs (entry_id);
