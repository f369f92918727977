-- A claim and an end each rewrite a run's row; since they change its status, the new row
-- version gets an entry in every index of `runs` that holds it. So each state the scheduler
-- looks for gets a partial index of its own and a rewrite enters only the one of its new state:
-- pending runs by due time and order, running runs by lease end (an expired lease is then found
-- without walking every running run), parked runs by due time, ended runs by end time (the
-- retention sweep). runs_seq served no query.
DROP INDEX runs_seq;
DROP INDEX runs_claim;
DROP INDEX runs_finished;
CREATE INDEX runs_pending ON runs (due_at, seq) WHERE status = 'pending';
CREATE INDEX runs_running ON runs (lease_until) WHERE status = 'running';
CREATE INDEX runs_parked ON runs (due_at) WHERE status = 'parked';
CREATE INDEX runs_finished ON runs (finished_at) WHERE finished_at IS NOT NULL;
-- Room on each page for a rewritten row version next to the old one: a claim's and an end's
-- new versions then stay on their page instead of all going to the table's last one.
ALTER TABLE runs SET (fillfactor = 60);
