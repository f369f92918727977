-- Every stage an item entered, as Bitrix24's crm.stagehistory.list answers it: TYPE_ID 1 the item
-- was created there, 2 moved to an in-progress stage, 3 to a final (won or lost) one, 5 moved to
-- another pipeline. Written by the host with each placement and move; the pipeline and semantics
-- are those of the stage at that moment, so renaming or re-sorting stages later rewrites nothing.
CREATE TABLE stage_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_type TEXT NOT NULL,
    owner_id INTEGER NOT NULL,
    type_id INTEGER NOT NULL CHECK (type_id IN (1, 2, 3, 5)),
    category_id INTEGER NOT NULL,
    stage_id TEXT NOT NULL,
    semantics TEXT NOT NULL CHECK (semantics IN ('P', 'S', 'F')),
    created_at INTEGER NOT NULL
);
CREATE INDEX stage_history_owner ON stage_history (entity_type, owner_id);
CREATE INDEX stage_history_created ON stage_history (entity_type, created_at);
CREATE INDEX stage_history_category ON stage_history (entity_type, category_id, created_at);

-- The history so far, from the items' events: a creation entered the stage the item left by its
-- first move (or, never moved, the stage it is in); a move entered its new stage. Items deleted
-- without a move, and stages deleted since, leave no row.
INSERT INTO stage_history (entity_type, owner_id, type_id, category_id, stage_id, semantics, created_at)
SELECT e.entity_type, e.item_id,
       CASE WHEN e.kind = 'item_added' THEN 1 WHEN s.semantics <> 'P' THEN 3 ELSE 2 END,
       s.category_id, s.status_id, s.semantics, e.created_at
FROM events e
JOIN stages s ON s.entity_type = e.entity_type AND s.status_id = CASE
    WHEN e.kind = 'stage_changed' THEN json_extract(e.payload, '$.new')
    ELSE COALESCE(
        (SELECT json_extract(f.payload, '$.old') FROM events f
         WHERE f.entity_type = e.entity_type AND f.item_id = e.item_id AND f.kind = 'stage_changed'
         ORDER BY f.id LIMIT 1),
        (SELECT i.stage_id FROM items i WHERE i.entity_type = e.entity_type AND i.id = e.item_id))
    END
WHERE e.kind IN ('item_added', 'stage_changed')
ORDER BY e.id;

-- Repeat-deal marking finds a client's won deals by contact and by company.
CREATE INDEX items_contact ON items (entity_type, json_extract(fields, '$.CONTACT_ID'));
CREATE INDEX items_company ON items (entity_type, json_extract(fields, '$.COMPANY_ID'));
