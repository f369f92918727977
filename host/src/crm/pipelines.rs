//! Pipelines ("categories" in Bitrix24) and their ordered stages. A deal may have many pipelines,
//! each with its own stage ids (`C{category}:NEW`); leads have the one list of statuses.
//!
//! A pipeline always keeps at least one in-progress stage and exactly one success stage, so every
//! item has a stage to start in and a stage to win in.

use crate::store;

use crate::model::{CrmError, EntityType, checked_name};
use crate::store::{Conn, Store, Tx};

/// A pipeline of an entity type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Its id within the entity type; the default pipeline is 0.
    pub id: i64,
    /// Its display name.
    pub name: String,
    /// Its position among the type's pipelines.
    pub sort: i64,
    /// Whether new items land in it when no CATEGORY_ID is given.
    pub is_default: bool,
}

/// A stage of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Its numeric id, as `crm.status.*` uses.
    pub id: i64,
    /// The entity type whose pipeline it is in.
    pub entity_type: EntityType,
    /// Bitrix24's stage id ("WON", "C2:NEW").
    pub status_id: String,
    /// The pipeline it belongs to.
    pub category_id: i64,
    /// Its display name.
    pub name: String,
    /// Its position in the pipeline.
    pub sort: i64,
    /// "P" in progress, "S" success, "F" failure.
    pub semantics: String,
    /// Its colour ("#39A8EF"), if one was set.
    pub color: Option<String>,
}

/// What a new stage is to be.
#[derive(Debug, Clone)]
pub struct NewStage {
    /// Its stage id, with or without the pipeline's `C{category}:` prefix.
    pub status_id: String,
    /// Its display name.
    pub name: String,
    /// Its position in the pipeline.
    pub sort: i64,
    /// "P", "S" or "F".
    pub semantics: String,
    /// Its colour, if any.
    pub color: Option<String>,
}

/// What a stage update changes; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct StageChanges {
    /// A new display name.
    pub name: Option<String>,
    /// A new position.
    pub sort: Option<i64>,
    /// A new colour.
    pub color: Option<String>,
}

/// The stages a new deal pipeline starts with, as in Bitrix24: (status id, name, sort, semantics).
const NEW_DEAL_PIPELINE: &[(&str, &str, i64, &str)] = &[
    ("NEW", "New", 10, "P"),
    ("PREPARATION", "Preparing documents", 20, "P"),
    ("PREPAYMENT_INVOICE", "Invoice", 30, "P"),
    ("EXECUTING", "In progress", 40, "P"),
    ("FINAL_INVOICE", "Final invoice", 50, "P"),
    ("WON", "Deal won", 60, "S"),
    ("LOSE", "Deal lost", 70, "F"),
    ("APOLOGY", "Analyze failure", 80, "F"),
];

/// The stages a smart process's new pipeline starts with, as in Bitrix24.
const NEW_SPA_PIPELINE: &[(&str, &str, i64, &str)] = &[
    ("NEW", "Start", 10, "P"),
    ("PREPARATION", "Preparation", 20, "P"),
    ("CLIENT", "Customer approval", 30, "P"),
    ("SUCCESS", "Success", 40, "S"),
    ("FAIL", "Failure", 50, "F"),
];

/// Bitrix24's ENTITY_ID of a pipeline's stage list: `DEAL_STAGE`, `DEAL_STAGE_{category}`,
/// `STATUS` (lead statuses) or `DYNAMIC_{entityTypeId}_STAGE_{category}`.
pub fn status_entity_id(entity_type: EntityType, category_id: i64) -> String {
    match (entity_type, category_id) {
        (EntityType::Lead, _) => "STATUS".into(),
        (EntityType::Dynamic(type_id), category) => format!("DYNAMIC_{type_id}_STAGE_{category}"),
        (_, 0) => "DEAL_STAGE".into(),
        (_, category) => format!("DEAL_STAGE_{category}"),
    }
}

/// The pipeline a `crm.status` ENTITY_ID names, if it names one.
pub fn parse_status_entity_id(entity_id: &str) -> Option<(EntityType, i64)> {
    match entity_id {
        "STATUS" => Some((EntityType::Lead, 0)),
        "DEAL_STAGE" => Some((EntityType::Deal, 0)),
        other => {
            if let Some(dynamic) = other.strip_prefix("DYNAMIC_") {
                let (type_id, category) = dynamic.split_once("_STAGE_")?;
                let entity_type = EntityType::from_type_id(type_id.parse().ok()?).ok()?;
                return Some((entity_type, category.parse().ok()?));
            }
            let category = other.strip_prefix("DEAL_STAGE_")?.parse().ok()?;
            Some((EntityType::Deal, category))
        }
    }
}

/// The prefix of a pipeline's stage ids: `C{category}:` for deal pipelines other than the
/// default, `DT{entityTypeId}_{category}:` for every smart-process pipeline.
fn stage_prefix(entity_type: EntityType, category_id: i64) -> String {
    match (entity_type, category_id) {
        (EntityType::Deal, category) if category != 0 => format!("C{category}:"),
        (EntityType::Dynamic(type_id), category) => format!("DT{type_id}_{category}:"),
        _ => String::new(),
    }
}

fn check_has_pipelines(entity_type: EntityType) -> Result<(), CrmError> {
    if entity_type.has_stages() {
        Ok(())
    } else {
        Err(CrmError::Invalid(format!("entity type {entity_type} has no pipelines")))
    }
}

fn category_from_row(row: &store::Row) -> Result<Category, CrmError> {
    Ok(Category {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        sort: row.try_get("sort")?,
        is_default: row.try_get::<i64, _>("is_default")? != 0,
    })
}

fn stage_from_row(row: &store::Row) -> Result<Stage, CrmError> {
    Ok(Stage {
        id: row.try_get("id")?,
        entity_type: EntityType::parse(&row.try_get::<String, _>("entity_type")?)?,
        status_id: row.try_get("status_id")?,
        category_id: row.try_get("category_id")?,
        name: row.try_get("name")?,
        sort: row.try_get("sort")?,
        semantics: row.try_get("semantics")?,
        color: row.try_get("color")?,
    })
}

/// The pipelines of an entity type in display order.
pub async fn categories(conn: &mut Conn, entity_type: EntityType) -> Result<Vec<Category>, CrmError> {
    check_has_pipelines(entity_type)?;
    let rows = store::query("SELECT * FROM categories WHERE entity_type = $1 ORDER BY sort, id")
        .bind(entity_type)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(category_from_row).collect()
}

/// The pipeline new items of a type land in when none is asked for.
pub async fn default_category(conn: &mut Conn, entity_type: EntityType) -> Result<i64, CrmError> {
    if !matches!(entity_type, EntityType::Dynamic(_)) {
        return Ok(0);
    }
    store::query_scalar("SELECT id FROM categories WHERE entity_type = $1 AND is_default = 1")
        .bind(entity_type)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| CrmError::NotFound(format!("entity type {}", entity_type.type_id())))
}

/// One pipeline.
pub async fn category(conn: &mut Conn, entity_type: EntityType, id: i64) -> Result<Category, CrmError> {
    check_has_pipelines(entity_type)?;
    let row = store::query("SELECT * FROM categories WHERE entity_type = $1 AND id = $2")
        .bind(entity_type)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| CrmError::NotFound(format!("pipeline {id} of {entity_type}")))?;
    category_from_row(&row)
}

/// Adds a pipeline with Bitrix24's default stages (ids prefixed `C{id}:` for deals,
/// `DT{type}_{id}:` for smart processes); the first pipeline of a smart process is its default.
pub async fn add_category(tx: &mut Tx, entity_type: EntityType, name: &str, sort: i64) -> Result<Category, CrmError> {
    if !entity_type.has_categories() {
        return Err(CrmError::Invalid(format!(
            "entity type {entity_type} has one fixed pipeline"
        )));
    }
    let id = Store::next_id(tx, &format!("category:{entity_type}")).await?;
    insert_row(tx, entity_type, id, name, sort).await?;
    let template = match entity_type {
        EntityType::Dynamic(_) => NEW_SPA_PIPELINE,
        _ => NEW_DEAL_PIPELINE,
    };
    for (status_id, name, sort, semantics) in template {
        let stage = NewStage {
            status_id: (*status_id).into(),
            name: (*name).into(),
            sort: *sort,
            semantics: (*semantics).into(),
            color: None,
        };
        insert_stage(tx, entity_type, id, &stage).await?;
    }
    category(tx, entity_type, id).await
}

/// Adds a pipeline under a given id with no stages yet, for a configuration import that keeps
/// the ids of the file (so its stage ids stay the same); the caller adds the stages and checks
/// the result with [`check_complete`]. Later pipelines are numbered after it.
pub async fn insert_category(
    tx: &mut Tx,
    entity_type: EntityType,
    id: i64,
    name: &str,
    sort: i64,
) -> Result<Category, CrmError> {
    if !entity_type.has_categories() || id < 1 {
        return Err(CrmError::Invalid(format!(
            "pipeline {id} of {entity_type} cannot be added: only deals and smart processes have pipelines besides 0"
        )));
    }
    insert_row(tx, entity_type, id, name, sort).await?;
    Store::skip_ids_through(tx, &format!("category:{entity_type}"), id).await?;
    category(tx, entity_type, id).await
}

/// Inserts a pipeline's row; the first of its entity type is the default.
async fn insert_row(tx: &mut Tx, entity_type: EntityType, id: i64, name: &str, sort: i64) -> Result<(), CrmError> {
    let name = checked_name("NAME", name)?;
    let existing: i64 = store::query_scalar("SELECT COUNT(*) FROM categories WHERE entity_type = $1")
        .bind(entity_type)
        .fetch_one(&mut *tx)
        .await?;
    store::query("INSERT INTO categories (entity_type, id, name, sort, is_default) VALUES ($1, $2, $3, $4, $5)")
        .bind(entity_type)
        .bind(id)
        .bind(name)
        .bind(sort.max(0))
        .bind(i64::from(existing == 0))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Checks the rule every pipeline keeps: exactly one success stage and at least one in progress.
pub async fn check_complete(conn: &mut Conn, entity_type: EntityType, id: i64) -> Result<(), CrmError> {
    let stages = stages(conn, entity_type, id).await?;
    let count = |semantics: &str| stages.iter().filter(|s| s.semantics == semantics).count();
    if count("S") == 1 && count("P") >= 1 {
        Ok(())
    } else {
        Err(CrmError::Invalid(format!(
            "pipeline {id} of {entity_type} needs exactly one success stage (S) and at least one in progress (P)"
        )))
    }
}

/// Deletes the stages of a pipeline that no item is in, except those named in `keep`: what an
/// import does to the stages a pipeline it just made came with.
pub async fn delete_stages_except(
    tx: &mut Tx,
    entity_type: EntityType,
    category_id: i64,
    keep: &[&str],
) -> Result<(), CrmError> {
    for stage in stages(tx, entity_type, category_id).await? {
        if !keep.contains(&stage.status_id.as_str()) {
            store::query("DELETE FROM stages WHERE id = $1")
                .bind(stage.id)
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

/// Renames or re-sorts a pipeline.
pub async fn update_category(
    tx: &mut Tx,
    entity_type: EntityType,
    id: i64,
    name: Option<&str>,
    sort: Option<i64>,
) -> Result<Category, CrmError> {
    let current = category(tx, entity_type, id).await?;
    let name = name
        .map(|name| checked_name("NAME", name))
        .transpose()?
        .unwrap_or(current.name.as_str());
    store::query("UPDATE categories SET name = $1, sort = $2 WHERE entity_type = $3 AND id = $4")
        .bind(name)
        .bind(sort.unwrap_or(current.sort).max(0))
        .bind(entity_type)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    category(tx, entity_type, id).await
}

/// Deletes an empty pipeline with its stages and their robots; the default pipeline stays.
pub async fn delete_category(tx: &mut Tx, entity_type: EntityType, id: i64) -> Result<(), CrmError> {
    let current = category(tx, entity_type, id).await?;
    if current.is_default {
        return Err(CrmError::Invalid("The default pipeline cannot be deleted".into()));
    }
    let items: i64 = store::query_scalar("SELECT COUNT(*) FROM items WHERE entity_type = $1 AND category_id = $2")
        .bind(entity_type)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    if items > 0 {
        return Err(CrmError::Invalid(format!(
            "{items} items of pipeline '{}' exist; move or delete them first",
            current.name
        )));
    }
    for table in ["robots", "stages", "categories"] {
        let key = if table == "categories" { "id" } else { "category_id" };
        store::query(&format!("DELETE FROM {table} WHERE entity_type = $1 AND {key} = $2"))
            .bind(entity_type)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

fn checked_color(color: &str) -> Result<&str, CrmError> {
    let hex = color.strip_prefix('#').unwrap_or_default();
    if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(color)
    } else {
        Err(CrmError::Invalid(format!(
            "COLOR must look like #39A8EF, not '{color}'"
        )))
    }
}

/// Looks up a stage of an entity type by its stage id.
pub async fn stage(conn: &mut Conn, entity_type: EntityType, status_id: &str) -> Result<Stage, CrmError> {
    let row = store::query("SELECT * FROM stages WHERE entity_type = $1 AND status_id = $2")
        .bind(entity_type)
        .bind(status_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| CrmError::Invalid(format!("unknown stage {status_id} for {entity_type}")))?;
    stage_from_row(&row)
}

/// Looks up a stage by its numeric id.
pub async fn stage_by_id(conn: &mut Conn, id: i64) -> Result<Stage, CrmError> {
    let row = store::query("SELECT * FROM stages WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| CrmError::NotFound(format!("stage {id}")))?;
    stage_from_row(&row)
}

/// The stages of one pipeline in order.
pub async fn stages(conn: &mut Conn, entity_type: EntityType, category_id: i64) -> Result<Vec<Stage>, CrmError> {
    let rows = store::query("SELECT * FROM stages WHERE entity_type = $1 AND category_id = $2 ORDER BY sort, id")
        .bind(entity_type)
        .bind(category_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(stage_from_row).collect()
}

/// Every stage of every pipeline, grouped by pipeline, in order.
pub async fn all_stages(conn: &mut Conn) -> Result<Vec<Stage>, CrmError> {
    let rows = store::query("SELECT * FROM stages ORDER BY entity_type, category_id, sort, id")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(stage_from_row).collect()
}

/// Adds a stage to a pipeline. Its id gets the pipeline's prefix if it lacks it; a second
/// success stage is refused.
pub async fn add_stage(
    tx: &mut Tx,
    entity_type: EntityType,
    category_id: i64,
    new: &NewStage,
) -> Result<Stage, CrmError> {
    category(tx, entity_type, category_id).await?;
    checked_name("NAME", &new.name)?;
    if !matches!(new.semantics.as_str(), "P" | "S" | "F") {
        return Err(CrmError::Invalid(format!(
            "SEMANTICS must be P, S or F, not '{}'",
            new.semantics
        )));
    }
    let siblings = stages(tx, entity_type, category_id).await?;
    if new.semantics == "S" && siblings.iter().any(|s| s.semantics == "S") {
        return Err(CrmError::Invalid("a pipeline has exactly one success stage".into()));
    }
    insert_stage(tx, entity_type, category_id, new).await
}

async fn insert_stage(
    tx: &mut Tx,
    entity_type: EntityType,
    category_id: i64,
    new: &NewStage,
) -> Result<Stage, CrmError> {
    let prefix = stage_prefix(entity_type, category_id);
    let bare = new.status_id.strip_prefix(&prefix).unwrap_or(&new.status_id);
    let valid = !bare.is_empty() && bare.len() <= 50 && bare.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(CrmError::Invalid(format!(
            "STATUS_ID '{}' must be 1 to 50 letters, digits or underscores",
            new.status_id
        )));
    }
    let status_id = format!("{prefix}{}", bare.to_ascii_uppercase());
    if stage(tx, entity_type, &status_id).await.is_ok() {
        return Err(CrmError::Invalid(format!("stage {status_id} already exists")));
    }
    let id = Store::next_id(tx, "stage").await?;
    store::query(
        "INSERT INTO stages (id, entity_type, category_id, status_id, name, sort, semantics, color)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(entity_type)
    .bind(category_id)
    .bind(&status_id)
    .bind(new.name.trim())
    .bind(new.sort)
    .bind(&new.semantics)
    .bind(new.color.as_deref().map(checked_color).transpose()?)
    .execute(&mut *tx)
    .await?;
    stage_by_id(tx, id).await
}

/// Renames, re-sorts or recolours a stage; its id and semantics stay, since items and robots
/// refer to them.
pub async fn update_stage(tx: &mut Tx, id: i64, changes: &StageChanges) -> Result<Stage, CrmError> {
    let current = stage_by_id(tx, id).await?;
    let name = changes
        .name
        .as_deref()
        .map(|name| checked_name("NAME", name))
        .transpose()?
        .unwrap_or(current.name.as_str());
    let color = match changes.color.as_deref() {
        Some(color) => Some(checked_color(color)?),
        None => current.color.as_deref(),
    };
    store::query("UPDATE stages SET name = $1, sort = $2, color = $3 WHERE id = $4")
        .bind(name)
        .bind(changes.sort.unwrap_or(current.sort))
        .bind(color)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    stage_by_id(tx, id).await
}

/// Deletes a stage no item is in, with its robots. The pipeline's success stage and its last
/// in-progress stage stay.
pub async fn delete_stage(tx: &mut Tx, id: i64) -> Result<(), CrmError> {
    let doomed = stage_by_id(tx, id).await?;
    let siblings = stages(tx, doomed.entity_type, doomed.category_id).await?;
    let same_kind = siblings.iter().filter(|s| s.semantics == doomed.semantics).count();
    if doomed.semantics == "S" || (doomed.semantics == "P" && same_kind == 1) {
        return Err(CrmError::Invalid(format!(
            "stage {} cannot be deleted: a pipeline keeps its success stage and one in-progress stage",
            doomed.status_id
        )));
    }
    let items: i64 = store::query_scalar("SELECT COUNT(*) FROM items WHERE entity_type = $1 AND stage_id = $2")
        .bind(doomed.entity_type)
        .bind(&doomed.status_id)
        .fetch_one(&mut *tx)
        .await?;
    if items > 0 {
        return Err(CrmError::Invalid(format!(
            "{items} items are in stage {}; move them first",
            doomed.status_id
        )));
    }
    for table in ["robots", "stages"] {
        let key = if table == "stages" { "status_id" } else { "stage_id" };
        store::query(&format!("DELETE FROM {table} WHERE entity_type = $1 AND {key} = $2"))
            .bind(doomed.entity_type)
            .bind(&doomed.status_id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
