//! `crm.activity.{add,get,list,update,delete}` in Bitrix24's shapes.

use serde_json::{Map, Value, json};

use super::{Answer, AppState, PAGE_SIZE, commit_and_wake, unknown_method};
use crate::api::{ApiError, params};
use crate::crm::activities::{self, Activity, ActivityChanges};
use crate::model::rest_datetime;
use crate::rules::Engine;

/// Answers one `crm.activity.*` call made by `user`.
pub(super) async fn dispatch(
    app: &AppState,
    user: i64,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Answer, ApiError> {
    match method {
        "crm.activity.add" => add(app, user, p).await,
        "crm.activity.get" => get(app, p).await,
        "crm.activity.list" => list(app, p).await,
        "crm.activity.update" => update(app, p).await,
        "crm.activity.delete" => delete(app, p).await,
        _ => Err(unknown_method()),
    }
}

fn activity_json(activity: &Activity) -> Value {
    let time = |at: Option<i64>| at.map(rest_datetime);
    json!({
        "ID": activity.id.to_string(),
        "OWNER_TYPE_ID": activity.owner.entity_type.type_id().to_string(),
        "OWNER_ID": activity.owner.id.to_string(),
        "TYPE_ID": activity.type_id.to_string(),
        "SUBJECT": activity.subject,
        "DESCRIPTION": activity.description,
        "RESPONSIBLE_ID": activity.responsible_id.to_string(),
        "AUTHOR_ID": activity.author_id.to_string(),
        "START_TIME": time(activity.start_time),
        "END_TIME": time(activity.end_time),
        "DEADLINE": time(activity.deadline),
        "COMPLETED": if activity.completed { "Y" } else { "N" },
        "PRIORITY": activity.priority.to_string(),
        "DIRECTION": activity.direction.to_string(),
        "CREATED": rest_datetime(activity.created_at),
        "LAST_UPDATED": rest_datetime(activity.updated_at),
    })
}

fn changes(p: &Map<String, Value>) -> Result<ActivityChanges, ApiError> {
    Ok(ActivityChanges::from_rest(&params::object(p, "fields")?)?)
}

async fn add(app: &AppState, user: i64, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let changes = changes(p)?;
    let mut tx = app.store.write().await?;
    let activity = activities::add(&mut tx, &Engine, None, &changes, user, app.clock.now()).await?;
    commit_and_wake(app, tx, true).await?;
    Ok(json!(activity.id).into())
}

async fn get(app: &AppState, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    Ok(activity_json(&activities::activity(&mut conn, params::id(p, "id")?).await?).into())
}

async fn list(app: &AppState, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let page = params::page(p, PAGE_SIZE)?;
    let filter = params::object(p, "filter")?;
    let order = params::object(p, "order")?;
    let mut conn = app.store.pool().acquire().await?;
    let (rows, total) = activities::list(&mut conn, &filter, &order, page).await?;
    Ok(Answer::page(
        Value::Array(rows.iter().map(activity_json).collect()),
        total,
        page,
    ))
}

async fn update(app: &AppState, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let id = params::id(p, "id")?;
    let changes = changes(p)?;
    let mut tx = app.store.write().await?;
    activities::update(&mut tx, &Engine, id, &changes, app.clock.now()).await?;
    commit_and_wake(app, tx, true).await?;
    Ok(json!(true).into())
}

async fn delete(app: &AppState, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let id = params::id(p, "id")?;
    let mut tx = app.store.write().await?;
    activities::delete(&mut tx, id).await?;
    tx.commit().await?;
    Ok(json!(true).into())
}
