-- Every contact's and company's phones and emails in the form repeat-lead matching compares
-- (a phone's digits with its leading +, an email lower-cased), kept by the host with each write
-- of the item. Matching a new lead read every contact and company's fields inside the add's
-- write transaction, so an add took longer the more clients there were; this finds them by index.
CREATE TABLE client_values (
    kind TEXT NOT NULL CHECK (kind IN ('phone', 'email')),
    value TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    item_id INTEGER NOT NULL,
    PRIMARY KEY (kind, value, entity_type, item_id),
    FOREIGN KEY (entity_type, item_id) REFERENCES items (entity_type, id) ON DELETE CASCADE
);
CREATE INDEX client_values_item ON client_values (entity_type, item_id);

-- Stored values were checked on the way in: a phone holds only digits and ` +-().`.
INSERT OR IGNORE INTO client_values (kind, value, entity_type, item_id)
SELECT 'email', lower(trim(json_extract(entry.value, '$.VALUE'))), items.entity_type, items.id
FROM items, json_each(items.fields, '$.EMAIL') AS entry
WHERE items.entity_type IN ('contact', 'company')
  AND json_type(entry.value, '$.VALUE') = 'text'
  AND trim(json_extract(entry.value, '$.VALUE')) <> '';

INSERT OR IGNORE INTO client_values (kind, value, entity_type, item_id)
SELECT 'phone',
       CASE WHEN trim(phone) LIKE '+%' THEN '+' ELSE '' END
       || replace(replace(replace(replace(replace(replace(phone, ' ', ''), '-', ''), '(', ''), ')', ''), '.', ''), '+', ''),
       entity_type, id
FROM (
    SELECT json_extract(entry.value, '$.VALUE') AS phone, items.entity_type, items.id
    FROM items, json_each(items.fields, '$.PHONE') AS entry
    WHERE items.entity_type IN ('contact', 'company')
      AND json_type(entry.value, '$.VALUE') = 'text'
      AND trim(json_extract(entry.value, '$.VALUE')) <> ''
);
