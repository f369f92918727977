//! `tasks.task.{add,get,list,update}` in Bitrix24's shapes: upper-case field names in, camel-case
//! task objects out.

use serde_json::{Map, Value, json};

use super::{Answer, AppState, PAGE_SIZE, commit_and_wake, unknown_method};
use crate::api::{ApiError, params};
use crate::model::rest_datetime;
use crate::rules::Engine;
use crate::tasks::{self, Task, TaskChanges};

/// Answers one `tasks.task.*` call made by `user`.
pub(super) async fn dispatch(
    app: &AppState,
    user: i64,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Answer, ApiError> {
    match method {
        "tasks.task.add" => add(app, user, p).await,
        "tasks.task.get" => get(app, p).await,
        "tasks.task.list" => list(app, p).await,
        "tasks.task.update" => update(app, p).await,
        _ => Err(unknown_method()),
    }
}

fn task_json(task: &Task) -> Value {
    let time = |at: Option<i64>| at.map(rest_datetime);
    json!({
        "id": task.id.to_string(),
        "title": task.title,
        "description": task.description,
        "responsibleId": task.responsible_id.to_string(),
        "createdBy": task.created_by.to_string(),
        "status": task.status.to_string(),
        "priority": task.priority.to_string(),
        "deadline": time(task.deadline),
        "ufCrmTask": task.crm_bindings,
        "auditors": task.auditors.iter().map(i64::to_string).collect::<Vec<_>>(),
        "accomplices": task.accomplices.iter().map(i64::to_string).collect::<Vec<_>>(),
        "createdDate": rest_datetime(task.created_at),
        "changedDate": rest_datetime(task.updated_at),
        "closedDate": time(task.closed_at),
    })
}

fn changes(p: &Map<String, Value>) -> Result<TaskChanges, ApiError> {
    Ok(TaskChanges::from_rest(&params::object(p, "fields")?)?)
}

fn answer(task: &Task) -> Answer {
    json!({"task": task_json(task)}).into()
}

async fn add(app: &AppState, user: i64, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let changes = changes(p)?;
    let mut tx = app.store.write().await?;
    let task = tasks::add(&mut tx, &Engine, None, &changes, user, app.clock.now()).await?;
    tx.commit().await?;
    Ok(answer(&task))
}

async fn get(app: &AppState, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    Ok(answer(&tasks::task(&mut conn, params::id(p, "taskId")?).await?))
}

async fn update(app: &AppState, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let id = params::id(p, "taskId")?;
    let changes = changes(p)?;
    let mut tx = app.store.write().await?;
    let task = tasks::update(&mut tx, &Engine, id, &changes, app.clock.now()).await?;
    commit_and_wake(app, tx, true).await?;
    Ok(answer(&task))
}

async fn list(app: &AppState, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let page = params::page(p, PAGE_SIZE)?;
    let filter = params::object(p, "filter")?;
    let order = params::object(p, "order")?;
    let mut conn = app.store.pool().acquire().await?;
    let (tasks, total) = tasks::list(&mut conn, &filter, &order, page).await?;
    Ok(Answer::page(
        json!({"tasks": tasks.iter().map(task_json).collect::<Vec<_>>()}),
        total,
        page,
    ))
}
