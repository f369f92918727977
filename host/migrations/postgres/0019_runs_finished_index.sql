-- The retention sweep forgets runs that finished long ago. Only runs that are over have a
-- finished_at, so an index on it finds them without walking every finished run in the status
-- index once a minute.
CREATE INDEX runs_finished ON runs (finished_at);
