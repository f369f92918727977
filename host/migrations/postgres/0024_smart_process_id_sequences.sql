-- Each smart-process type's item ids come from a native sequence of its own, as deals' do since
-- 0021: on its `sequences` row, concurrent crm.item.add calls of one type waited for each other's
-- commit in turn. add_id_sequence() gives a counter its sequence, starting where its row left off
-- (a type deleted and added again keeps counting, as on SQLite); the host calls it when a type is
-- added, and here for the types that exist. The sequence outlives its type, as the row did.
CREATE FUNCTION add_id_sequence(sequence_name TEXT) RETURNS VOID LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass(quote_ident('ids_' || sequence_name)) IS NULL THEN
        EXECUTE format(
            'CREATE SEQUENCE %I START WITH %s',
            'ids_' || sequence_name,
            COALESCE((SELECT next_id FROM sequences WHERE sequences.name = sequence_name), 1)
        );
    END IF;
END $$;

SELECT add_id_sequence('dynamic_' || entity_type_id) FROM crm_types;
