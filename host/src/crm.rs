//! CRM operations on items: the one place items are created, changed, moved and deleted, used by
//! the REST API and by plugins' staged writes alike. Each change writes its event in the same
//! transaction and tells the [`Automation`] it was given (the seam to the engine, see
//! [`automation`]), so entering a stage schedules that stage's robots there too.

pub mod activities;
pub mod automation;
pub mod pipeline_report;
mod pipelines;
mod query;
pub mod repeat;
pub mod repeat_sales;
pub mod stage_history;
pub mod types;
pub mod userfields;

use std::collections::HashMap;

use crate::store;
use serde_json::{Map, Value, json};

use crate::clock::Millis;
use crate::model::{CrmError, EntityType, Entry, FieldChanges, Item, ItemRef, REPEAT_FIELD, rest_datetime};
use crate::store::{Backend, Conn, Store, Tx, placeholders};

pub use automation::{Automation, Change, Happening, Reaction};
pub use pipelines::{
    Category, NewStage, Stage, StageChanges, add_category, add_stage, all_stages, categories, category, check_complete,
    default_category, delete_category, delete_stage, delete_stages_except, insert_category, parse_status_entity_id,
    stage, stage_by_id, stages, status_entity_id, update_category, update_stage,
};
pub(crate) use query::{ColumnType, TableQuery, ids_assigned_to, json_field, split_filter_key};
pub use query::{ListQuery, Page, list, total};

/// A timeline comment.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Comment {
    /// Its id.
    pub id: i64,
    /// Who wrote it.
    pub author_id: i64,
    /// Its text.
    pub text: String,
    /// When.
    pub created_at: Millis,
}

fn item_from_row(row: &store::Row, entity_type: EntityType) -> Result<Item, CrmError> {
    let fields: String = row.try_get("fields")?;
    let fields: Map<String, Value> =
        serde_json::from_str(&fields).map_err(|e| CrmError::Invalid(format!("stored fields are corrupt: {e}")))?;
    Ok(Item {
        item_ref: ItemRef {
            entity_type,
            id: row.try_get("id")?,
        },
        category_id: row.try_get("category_id")?,
        stage_id: row.try_get("stage_id")?,
        stage_semantic: row.try_get("stage_semantic")?,
        in_first_stage: row.try_get::<Option<String>, _>("in_first_stage")?.as_deref() == Some("Y"),
        fields,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The SQL of an item's stage semantics, for reading and for list filters: derived from the
/// stage at read time, so it can never disagree with it.
macro_rules! stage_semantic_sql {
    () => {
        "(SELECT s.semantics FROM stages s WHERE s.entity_type = items.entity_type AND s.status_id = items.stage_id)"
    };
}
pub(crate) use stage_semantic_sql;

/// The SQL of whether an item is in its pipeline's first stage, 'Y' or 'N' (`IS_NEW`): derived
/// from the stage at read time like [`stage_semantic_sql`], the first stage being the one new
/// items land in.
macro_rules! in_first_stage_sql {
    () => {
        "(CASE WHEN items.stage_id = (SELECT f.status_id FROM stages f WHERE f.entity_type = items.entity_type \
         AND f.category_id = items.category_id ORDER BY f.sort, f.id LIMIT 1) THEN 'Y' ELSE 'N' END)"
    };
}
pub(crate) use in_first_stage_sql;

/// What every item query selects: the row, its stage's semantics and whether that stage is first.
const ITEM_COLUMNS: &str = concat!(
    "items.*, ",
    stage_semantic_sql!(),
    " AS stage_semantic, ",
    in_first_stage_sql!(),
    " AS in_first_stage"
);

/// What a create or update did: the item, and how many robot runs it scheduled (so the caller
/// wakes the scheduler only when there is something to run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The item written.
    pub item: ItemRef,
    /// Robot runs scheduled by entering a stage.
    pub robots_scheduled: usize,
}

/// Reads one item.
pub async fn get(conn: &mut Conn, item: ItemRef) -> Result<Item, CrmError> {
    fetch_item(conn, item, "").await
}

/// Reads many items at once (for a batch of robot runs); items that do not exist are left out.
pub async fn get_many(conn: &mut Conn, items: &[ItemRef]) -> Result<Vec<Item>, CrmError> {
    let mut by_type: HashMap<EntityType, Vec<i64>> = HashMap::new();
    for item in items {
        by_type.entry(item.entity_type).or_default().push(item.id);
    }
    let mut found = Vec::with_capacity(items.len());
    for (entity_type, ids) in by_type {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE entity_type = $1 AND id IN ({})",
            placeholders(2, ids.len())
        );
        let mut query = store::query(&sql).bind(entity_type);
        for id in ids {
            query = query.bind(id);
        }
        let rows = query.fetch_all(&mut *conn).await?;
        for row in &rows {
            found.push(item_from_row(row, entity_type)?);
        }
    }
    Ok(found)
}

/// Reads one item inside a write transaction and keeps others from changing it until the
/// transaction ends: SQLite's write transactions already exclude each other, PostgreSQL's need
/// the row lock, or two concurrent updates would each overwrite the other's fields.
async fn get_for_update(tx: &mut Tx, item: ItemRef) -> Result<Item, CrmError> {
    let lock = match tx.backend() {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE",
    };
    fetch_item(tx, item, lock).await
}

async fn fetch_item(conn: &mut Conn, item: ItemRef, lock: &str) -> Result<Item, CrmError> {
    let row = store::query(&format!(
        "SELECT {ITEM_COLUMNS} FROM items WHERE entity_type = $1 AND id = $2{lock}"
    ))
    .bind(item.entity_type)
    .bind(item.id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| CrmError::NotFound(item.to_string()))?;
    item_from_row(&row, item.entity_type)
}

/// Decides the pipeline and stage an item ends up in, refusing a stage outside its pipeline.
async fn placement(
    conn: &mut Conn,
    entity_type: EntityType,
    category_id: i64,
    stage_id: Option<&str>,
) -> Result<Stage, CrmError> {
    match stage_id {
        Some(id) => {
            let stage = stage(conn, entity_type, id).await?;
            if stage.category_id != category_id {
                return Err(CrmError::Invalid(format!(
                    "stage {id} belongs to pipeline {}, not {category_id}",
                    stage.category_id
                )));
            }
            Ok(stage)
        }
        None => stages(conn, entity_type, category_id)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| CrmError::Invalid(format!("unknown pipeline {category_id} for {entity_type}"))),
    }
}

/// Writes an event; returns its id (an entry into a stage is known by its event's id).
pub(crate) async fn record_event(
    tx: &mut Tx,
    item: ItemRef,
    kind: &str,
    payload: Value,
    now: Millis,
) -> Result<i64, CrmError> {
    let id = store::query_scalar(
        "INSERT INTO events (entity_type, item_id, kind, payload, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(item.entity_type)
    .bind(item.id)
    .bind(kind)
    .bind(payload.to_string())
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    Ok(id)
}

/// Creates an item with the given id (taken from [`Store::next_id`] earlier, so a plugin can know
/// it before its writes commit) or a fresh one; runs the first stage's robots. As in Bitrix24,
/// the creator is responsible unless ASSIGNED_BY_ID says otherwise.
pub async fn create(
    tx: &mut Tx,
    automation: &dyn Automation,
    entity_type: EntityType,
    id: Option<i64>,
    changes: FieldChanges,
    user: i64,
    now: Millis,
) -> Result<Written, CrmError> {
    let (category_id, stage) = if entity_type.has_stages() {
        let category = match changes.category_id {
            Some(category) => category,
            None => default_category(tx, entity_type).await?,
        };
        let stage = placement(tx, entity_type, category, changes.stage_id.as_deref()).await?;
        (Some(category), Some(stage))
    } else {
        (None, None)
    };
    let id = match id {
        Some(id) => id,
        None => Store::next_id(tx, &entity_type.to_string()).await?,
    };
    let item_ref = ItemRef { entity_type, id };
    let mut fields = changes.applied_to(&Map::new())?;
    if fields.get("ASSIGNED_BY_ID").is_none_or(Value::is_null) {
        fields.insert("ASSIGNED_BY_ID".into(), Value::from(user));
    }
    if entity_type.fields().iter().any(|f| f.name == "BEGINDATE") && fields.get("BEGINDATE").is_none_or(Value::is_null)
    {
        fields.insert("BEGINDATE".into(), Value::String(rest_datetime(now)));
    }
    match entity_type {
        EntityType::Lead if repeat_sales::load(tx).await?.enabled => repeat::mark_repeat_lead(tx, &mut fields).await?,
        EntityType::Lead => {
            fields.insert(REPEAT_FIELD.into(), Value::from("N"));
        }
        EntityType::Deal => repeat_sales::mark_deal(tx, None, &mut fields).await?,
        _ => {}
    }
    let fields = Value::Object(fields);
    store::query(
        "INSERT INTO items (entity_type, id, category_id, stage_id, fields, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(entity_type)
    .bind(id)
    .bind(category_id)
    .bind(stage.as_ref().map(|s| s.status_id.clone()))
    .bind(fields.to_string())
    .bind(user)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let mut lead = None;
    if let Value::Object(stored) = &fields {
        repeat::index_client(tx, item_ref, stored).await?;
        lead = (entity_type == EntityType::Lead).then(|| stored.clone());
    }
    let entry = Entry {
        id: record_event(tx, item_ref, "item_added", fields, now).await?,
        at: now,
    };
    if let Some(stage) = &stage {
        stage_history::record(tx, item_ref, stage_history::Kind::Created, stage, now).await?;
    }
    let mut robots_scheduled = match &stage {
        Some(stage) => {
            let placed = Change::Placed {
                stage_id: &stage.status_id,
                entry,
            };
            automation.react(tx, item_ref, placed, now).await?
        }
        None => 0,
    };
    robots_scheduled += automation
        .react(tx, item_ref, Change::Happened(&Happening::Created), now)
        .await?;
    if let Some(lead) = lead {
        robots_scheduled += repeat_sales::convert_in_simple_crm(tx, automation, &lead, item_ref, now).await?;
    }
    Ok(Written {
        item: item_ref,
        robots_scheduled,
    })
}

/// Sets fields of an item and moves it if a new stage or pipeline was asked for; entering a stage
/// cancels the old stage's pending robots and schedules the new stage's.
pub async fn update(
    tx: &mut Tx,
    automation: &dyn Automation,
    item_ref: ItemRef,
    changes: FieldChanges,
    now: Millis,
) -> Result<Written, CrmError> {
    let before = get_for_update(tx, item_ref).await?;
    let mut fields = changes.applied_to(&before.fields)?;
    if item_ref.entity_type == EntityType::Deal
        && changes.fields.keys().any(|name| repeat_sales::is_marking_field(name))
    {
        repeat_sales::mark_deal(tx, Some(item_ref.id), &mut fields).await?;
    }
    let changed: Vec<(String, Value, Value)> = changes
        .fields
        .keys()
        .filter_map(|name| {
            let old = before.fields.get(name).unwrap_or(&Value::Null);
            let new = fields.get(name).unwrap_or(&Value::Null);
            (old != new).then(|| (name.clone(), old.clone(), new.clone()))
        })
        .collect();
    let target = if item_ref.entity_type.has_stages() && (changes.stage_id.is_some() || changes.category_id.is_some()) {
        let category = changes.category_id.or(before.category_id).unwrap_or(0);
        let switching_pipeline = Some(category) != before.category_id;
        let kept_stage = if switching_pipeline {
            None
        } else {
            before.stage_id.as_deref()
        };
        let stage_id = changes.stage_id.as_deref().or(kept_stage);
        Some(placement(tx, item_ref.entity_type, category, stage_id).await?)
    } else {
        None
    };
    let moved = target
        .as_ref()
        .filter(|s| Some(&s.status_id) != before.stage_id.as_ref());
    if changed.iter().any(|(name, _, _)| repeat::is_matched_field(name)) {
        repeat::index_client(tx, item_ref, &fields).await?;
    }
    store::query(
        "UPDATE items SET fields = $1, category_id = $2, stage_id = $3, updated_at = $4 WHERE entity_type = $5 AND id = $6",
    )
    .bind(Value::Object(fields).to_string())
    .bind(target.as_ref().map(|s| s.category_id).or(before.category_id))
    .bind(target.as_ref().map(|s| s.status_id.clone()).or(before.stage_id.clone()))
    .bind(now)
    .bind(item_ref.entity_type)
    .bind(item_ref.id)
    .execute(&mut *tx)
    .await?;
    if !changed.is_empty() {
        let payload = changed
            .iter()
            .map(|(name, old, new)| (name.clone(), json!({"old": old, "new": new})))
            .collect();
        record_event(tx, item_ref, "fields_changed", Value::Object(payload), now).await?;
    }
    let mut robots_scheduled = 0;
    if let Some(stage) = moved {
        let payload = json!({"old": before.stage_id, "new": stage.status_id});
        let entry = Entry {
            id: record_event(tx, item_ref, "stage_changed", payload, now).await?,
            at: now,
        };
        let kind = stage_history::Kind::of_move(before.category_id, stage);
        stage_history::record(tx, item_ref, kind, stage, now).await?;
        let moved = Change::Moved {
            stage_id: &stage.status_id,
            entry,
        };
        robots_scheduled = automation.react(tx, item_ref, moved, now).await?;
    }
    if !changed.is_empty() {
        let happening = Happening::FieldsChanged(changed);
        robots_scheduled += automation
            .react(tx, item_ref, Change::Happened(&happening), now)
            .await?;
    }
    Ok(Written {
        item: item_ref,
        robots_scheduled,
    })
}

/// Deletes an item and cancels its pending robots.
pub async fn delete(tx: &mut Tx, automation: &dyn Automation, item_ref: ItemRef, now: Millis) -> Result<(), CrmError> {
    let deleted = store::query("DELETE FROM items WHERE entity_type = $1 AND id = $2")
        .bind(item_ref.entity_type)
        .bind(item_ref.id)
        .execute(&mut *tx)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(CrmError::NotFound(item_ref.to_string()));
    }
    record_event(tx, item_ref, "item_deleted", json!({}), now).await?;
    automation.react(tx, item_ref, Change::Deleted, now).await?;
    Ok(())
}

/// One thing that happened to an item, as its events record it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Event {
    /// Its id; ids grow with time.
    pub id: i64,
    /// What happened: item_added, fields_changed, stage_changed, item_deleted, comment_added,
    /// activity_completed, task_completed, trigger_fired.
    pub kind: String,
    /// The details (old and new values, the comment or trigger id...).
    pub payload: Value,
    /// When.
    pub at: Millis,
}

/// The item's events, oldest first (those of a deleted item stay).
pub async fn events(conn: &mut Conn, item_ref: ItemRef) -> Result<Vec<Event>, CrmError> {
    let rows = store::query("SELECT * FROM events WHERE entity_type = $1 AND item_id = $2 ORDER BY id")
        .bind(item_ref.entity_type)
        .bind(item_ref.id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            let payload: String = row.try_get("payload")?;
            Ok(Event {
                id: row.try_get("id")?,
                kind: row.try_get("kind")?,
                payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
                at: row.try_get("created_at")?,
            })
        })
        .collect()
}

/// When each of `ids` (items of one type) entered its current stage: its last stage change, or
/// its creation. A board card shows how long the item has been in its column.
pub async fn entered_stage_at(
    conn: &mut Conn,
    entity_type: EntityType,
    ids: &[i64],
) -> Result<HashMap<i64, Millis>, CrmError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT item_id, MAX(created_at) AS at FROM events
         WHERE entity_type = $1 AND kind IN ('item_added', 'stage_changed') AND item_id IN ({})
         GROUP BY item_id",
        placeholders(2, ids.len())
    );
    let mut query = store::query(&sql).bind(entity_type);
    for id in ids {
        query = query.bind(id);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|row| Ok((row.try_get("item_id")?, row.try_get("at")?)))
        .collect()
}

/// How many items of a type there are and when the last of them changed: a board polls this
/// to see, cheaply, that it should redraw (a robot moved a deal, someone added or deleted one).
/// Both come from indexes: the count from the primary key's, the newest change from
/// `items_modified`'s last entry.
pub async fn type_stamp(conn: &mut Conn, entity_type: EntityType) -> Result<(i64, Option<Millis>), CrmError> {
    let row = store::query(
        "SELECT (SELECT COUNT(*) FROM items WHERE entity_type = $1) AS items,
                (SELECT MAX(updated_at) FROM items WHERE entity_type = $1) AS changed",
    )
    .bind(entity_type)
    .fetch_one(&mut *conn)
    .await?;
    Ok((row.try_get("items")?, row.try_get("changed")?))
}

/// The sequence timeline comment ids come from.
pub const COMMENT_SEQUENCE: &str = "timeline_comment";

/// Adds a timeline comment with the given id (taken earlier from [`COMMENT_SEQUENCE`]) or a fresh
/// one; returns its id.
pub async fn add_comment(
    tx: &mut Tx,
    automation: &dyn Automation,
    item_ref: ItemRef,
    id: Option<i64>,
    author: i64,
    text: &str,
    now: Millis,
) -> Result<i64, CrmError> {
    get(tx, item_ref).await?;
    if text.trim().is_empty() {
        return Err(CrmError::Invalid("comment text is empty".into()));
    }
    let id = match id {
        Some(id) => id,
        None => Store::next_id(tx, COMMENT_SEQUENCE).await?,
    };
    store::query(
        "INSERT INTO timeline_comments (id, entity_type, item_id, author_id, text, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(item_ref.entity_type)
    .bind(item_ref.id)
    .bind(author)
    .bind(text)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    record_event(tx, item_ref, "comment_added", json!({"comment_id": id}), now).await?;
    automation
        .react(tx, item_ref, Change::Happened(&Happening::CommentAdded), now)
        .await?;
    Ok(id)
}

/// The item's timeline comments, oldest first.
pub async fn comments(conn: &mut Conn, item_ref: ItemRef) -> Result<Vec<Comment>, CrmError> {
    let rows = store::query("SELECT * FROM timeline_comments WHERE entity_type = $1 AND item_id = $2 ORDER BY id")
        .bind(item_ref.entity_type)
        .bind(item_ref.id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Comment {
                id: row.try_get("id")?,
                author_id: row.try_get("author_id")?,
                text: row.try_get("text")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}
