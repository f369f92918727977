-- The busiest id counters become native sequences. A `sequences` row taken by a transaction stays
-- locked until that transaction is on disk, so concurrent adds of one entity type waited for each
-- other's commit in turn (crm.deal.add: 421-680 requests/s with 16 clients); nextval() locks
-- nothing. What it gives up: an id taken by a transaction that rolls back is not handed out again,
-- so a failed add can leave a gap, as Bitrix24's ids can. Counters without a native sequence
-- (smart-process items, pipelines, stages, users, ...) keep their row; take_id() serves both, and
-- SQLite, with its one writer, keeps the table for all.
CREATE FUNCTION take_id(sequence_name TEXT) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    native REGCLASS := to_regclass(quote_ident('ids_' || sequence_name));
    taken BIGINT;
BEGIN
    IF native IS NOT NULL THEN
        RETURN nextval(native);
    END IF;
    INSERT INTO sequences (name, next_id) VALUES (sequence_name, 2)
    ON CONFLICT (name) DO UPDATE SET next_id = sequences.next_id + 1
    RETURNING next_id - 1 INTO taken;
    RETURN taken;
END $$;

DO $$
DECLARE
    hot TEXT;
BEGIN
    FOREACH hot IN ARRAY ARRAY['lead', 'deal', 'contact', 'company', 'run', 'timeline_comment', 'activity', 'task', 'notification'] LOOP
        EXECUTE format(
            'CREATE SEQUENCE %I START WITH %s',
            'ids_' || hot,
            COALESCE((SELECT next_id FROM sequences WHERE sequences.name = hot), 1)
        );
    END LOOP;
END $$;
