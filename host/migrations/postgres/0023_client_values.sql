-- Every contact's and company's phones and emails in the form repeat-lead matching compares
-- (a phone's digits with its leading +, an email lower-cased), kept by the host with each write
-- of the item. Matching a new lead read every contact and company's fields inside the add's
-- write transaction, so an add took longer the more clients there were; this finds them by index.
CREATE TABLE client_values (
    kind TEXT NOT NULL CHECK (kind IN ('phone', 'email')),
    value TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    item_id BIGINT NOT NULL,
    PRIMARY KEY (kind, value, entity_type, item_id),
    FOREIGN KEY (entity_type, item_id) REFERENCES items (entity_type, id) ON DELETE CASCADE
);
CREATE INDEX client_values_item ON client_values (entity_type, item_id);

-- Lower-cased as the host does it, ASCII letters only, so that both stores compare alike.
INSERT INTO client_values (kind, value, entity_type, item_id)
SELECT kind, value, entity_type, id
FROM (
    SELECT 'email' AS kind,
           translate(btrim(entry ->> 'VALUE'), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') AS value,
           items.entity_type, items.id
    FROM items, jsonb_array_elements(CASE jsonb_typeof(items.fields::jsonb -> 'EMAIL')
        WHEN 'array' THEN items.fields::jsonb -> 'EMAIL' ELSE '[]'::jsonb END) AS entry
    WHERE items.entity_type IN ('contact', 'company') AND jsonb_typeof(entry -> 'VALUE') = 'string'
    UNION ALL
    SELECT 'phone',
           CASE WHEN btrim(entry ->> 'VALUE') LIKE '+%' THEN '+' ELSE '' END
           || regexp_replace(entry ->> 'VALUE', '[^0-9]', '', 'g'),
           items.entity_type, items.id
    FROM items, jsonb_array_elements(CASE jsonb_typeof(items.fields::jsonb -> 'PHONE')
        WHEN 'array' THEN items.fields::jsonb -> 'PHONE' ELSE '[]'::jsonb END) AS entry
    WHERE items.entity_type IN ('contact', 'company') AND jsonb_typeof(entry -> 'VALUE') = 'string'
) AS found
WHERE value <> '' AND value <> '+'
ON CONFLICT DO NOTHING;
