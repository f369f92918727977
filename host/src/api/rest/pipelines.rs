//! `crm.category.*` (pipelines) and `crm.status.*` (their stages) in Bitrix24's shapes.

use serde_json::{Map, Value, json};

use super::{Answer, AppState, unknown_method};
use crate::api::{ApiError, params};
use crate::crm::{self, Category, NewStage, Stage, StageChanges, types};
use crate::model::EntityType;

/// Answers one `crm.category.*` or `crm.status.*` call.
pub(super) async fn dispatch(app: &AppState, method: &str, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    match method {
        "crm.category.list" => category_list(app, p).await,
        "crm.category.get" => category_get(app, p).await,
        "crm.category.add" => category_add(app, p).await,
        "crm.category.update" => category_update(app, p).await,
        "crm.category.delete" => category_delete(app, p).await,
        "crm.status.list" => status_list(app, p).await,
        "crm.status.get" => status_get(app, p).await,
        "crm.status.add" => status_add(app, p).await,
        "crm.status.update" => status_update(app, p).await,
        "crm.status.delete" => status_delete(app, p).await,
        _ => Err(unknown_method()),
    }
}

fn entity_type(p: &Map<String, Value>) -> Result<EntityType, ApiError> {
    Ok(EntityType::from_type_id(params::id(p, "entityTypeId")?)?)
}

/// A pipeline id; 0 names the default deal pipeline, so it is not an ordinary positive id.
fn category_id(p: &Map<String, Value>) -> Result<i64, ApiError> {
    params::optional_int(p, "id")?
        .filter(|id| *id >= 0)
        .ok_or_else(|| ApiError::invalid("ID is not defined or invalid."))
}

fn category_json(entity_type: EntityType, category: &Category) -> Value {
    json!({
        "id": category.id,
        "name": category.name,
        "sort": category.sort,
        "entityTypeId": entity_type.type_id(),
        "isDefault": if category.is_default { "Y" } else { "N" },
    })
}

async fn category_list(app: &AppState, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let entity_type = entity_type(p)?;
    let mut conn = app.store.pool().acquire().await?;
    types::require(&mut conn, entity_type).await?;
    let categories = crm::categories(&mut conn, entity_type).await?;
    let rows: Vec<Value> = categories.iter().map(|c| category_json(entity_type, c)).collect();
    Ok(Answer {
        total: Some(rows.len() as i64),
        result: json!({"categories": rows}),
        next: None,
    })
}

async fn category_get(app: &AppState, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let entity_type = entity_type(p)?;
    let mut conn = app.store.pool().acquire().await?;
    let category = crm::category(&mut conn, entity_type, category_id(p)?).await?;
    Ok(json!({"category": category_json(entity_type, &category)}).into())
}

/// The `name` and `sort` of a `crm.category.add`/`update`; `isDefault` cannot be changed for
/// deals, as in Bitrix24, so it is refused rather than ignored.
fn category_fields(p: &Map<String, Value>) -> Result<(Option<String>, Option<i64>), ApiError> {
    let fields = params::object(p, "fields")?;
    params::only(&fields, &["name", "sort"])?;
    Ok((
        params::optional_str(&fields, "name")?,
        params::optional_int(&fields, "sort")?,
    ))
}

async fn category_add(app: &AppState, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let entity_type = entity_type(p)?;
    let (name, sort) = category_fields(p)?;
    let name = name.ok_or_else(|| ApiError::invalid("Field 'NAME' is required"))?;
    let mut tx = app.store.write().await?;
    if let EntityType::Dynamic(_) = entity_type
        && !types::by_entity_type(&mut tx, entity_type)
            .await?
            .setting("isCategoriesEnabled")
    {
        return Err(ApiError::invalid(
            "This smart process has one pipeline: turn on isCategoriesEnabled to add more",
        ));
    }
    let category = crm::add_category(&mut tx, entity_type, &name, sort.unwrap_or(500)).await?;
    tx.commit().await?;
    Ok(json!({"category": category_json(entity_type, &category)}).into())
}

async fn category_update(app: &AppState, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let entity_type = entity_type(p)?;
    let id = category_id(p)?;
    let (name, sort) = category_fields(p)?;
    let mut tx = app.store.write().await?;
    let category = crm::update_category(&mut tx, entity_type, id, name.as_deref(), sort).await?;
    tx.commit().await?;
    Ok(json!({"category": category_json(entity_type, &category)}).into())
}

async fn category_delete(app: &AppState, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let entity_type = entity_type(p)?;
    let id = category_id(p)?;
    let mut tx = app.store.write().await?;
    crm::delete_category(&mut tx, entity_type, id).await?;
    tx.commit().await?;
    Ok(Value::Null.into())
}

fn stage_json(stage: &Stage) -> Value {
    let (semantics, extra) = match stage.semantics.as_str() {
        "S" => (json!("S"), "success"),
        "F" => (json!("F"), "failure"),
        _ => (Value::Null, "process"),
    };
    json!({
        "ID": stage.id.to_string(),
        "ENTITY_ID": crm::status_entity_id(stage.entity_type, stage.category_id),
        "STATUS_ID": stage.status_id,
        "NAME": stage.name,
        "NAME_INIT": stage.name,
        "SORT": stage.sort.to_string(),
        "SYSTEM": if stage.semantics == "S" { "Y" } else { "N" },
        "CATEGORY_ID": stage.category_id.to_string(),
        "COLOR": stage.color,
        "SEMANTICS": semantics,
        "EXTRA": {"SEMANTICS": extra, "COLOR": stage.color},
    })
}

/// `crm.status.list`: pipeline stages, filtered by `ENTITY_ID` if given.
async fn status_list(app: &AppState, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let filter = params::object(p, "filter")?;
    let wanted = params::optional_str(&filter, "ENTITY_ID")?;
    let mut conn = app.store.pool().acquire().await?;
    let stages: Vec<Value> = crm::all_stages(&mut conn)
        .await?
        .iter()
        .map(stage_json)
        .filter(|stage| wanted.as_deref().is_none_or(|w| stage["ENTITY_ID"] == w))
        .collect();
    Ok(Answer {
        total: Some(stages.len() as i64),
        result: Value::Array(stages),
        next: None,
    })
}

async fn status_get(app: &AppState, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    let stage = crm::stage_by_id(&mut conn, params::id(p, "id")?).await?;
    Ok(stage_json(&stage).into())
}

async fn status_add(app: &AppState, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let fields = params::object(p, "fields")?;
    params::only(
        &fields,
        &["ENTITY_ID", "STATUS_ID", "NAME", "SORT", "SEMANTICS", "COLOR"],
    )?;
    let entity_id = params::optional_str(&fields, "ENTITY_ID")?.unwrap_or_default();
    let (entity_type, category_id) = crm::parse_status_entity_id(&entity_id)
        .ok_or_else(|| ApiError::invalid(format!("ENTITY_ID '{entity_id}' is not a stage list")))?;
    let required = |name: &str| {
        params::optional_str(&fields, name)?.ok_or_else(|| ApiError::invalid(format!("Field '{name}' is required")))
    };
    let new = NewStage {
        status_id: required("STATUS_ID")?,
        name: required("NAME")?,
        sort: params::optional_int(&fields, "SORT")?.unwrap_or(10),
        semantics: match params::optional_str(&fields, "SEMANTICS")?.as_deref() {
            None | Some("") => "P".into(),
            Some(other) => other.into(),
        },
        color: params::optional_str(&fields, "COLOR")?,
    };
    let mut tx = app.store.write().await?;
    let stage = crm::add_stage(&mut tx, entity_type, category_id, &new).await?;
    tx.commit().await?;
    Ok(json!(stage.id).into())
}

async fn status_update(app: &AppState, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let id = params::id(p, "id")?;
    let fields = params::object(p, "fields")?;
    params::only(&fields, &["NAME", "SORT", "COLOR"])?;
    let changes = StageChanges {
        name: params::optional_str(&fields, "NAME")?,
        sort: params::optional_int(&fields, "SORT")?,
        color: params::optional_str(&fields, "COLOR")?,
    };
    let mut tx = app.store.write().await?;
    crm::update_stage(&mut tx, id, &changes).await?;
    tx.commit().await?;
    Ok(json!(true).into())
}

async fn status_delete(app: &AppState, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let id = params::id(p, "id")?;
    let mut tx = app.store.write().await?;
    crm::delete_stage(&mut tx, id).await?;
    tx.commit().await?;
    Ok(json!(true).into())
}
