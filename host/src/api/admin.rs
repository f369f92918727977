//! The admin API (`/api/v1`): plugins, robots and run history, as JSON, behind the admin token.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::directory::{self, TokenKind};
use crate::mailer;
use crate::model::{EntityType, ItemRef};
use crate::rules::calendar::{self, Calendar};
use crate::rules::triggers::{self, NewTrigger};
use crate::rules::{self, NewRobot, RobotChanges};
use crate::runtime::Plugin;
use crate::scheduler::{self, RunFilter};

/// Checks `Authorization: Bearer <admin token>`.
pub async fn authenticate(app: &AppState, headers: &HeaderMap) -> Result<i64, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(ApiError::unauthorized)?;
    let mut conn = app.store.pool().acquire().await?;
    let holder = directory::token_holder(&mut conn, token.trim(), TokenKind::Admin).await?;
    holder.map(|h| h.user_id).ok_or_else(ApiError::unauthorized)
}

fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(ApiError::bad_json)
}

fn query<T: DeserializeOwned + Default>(raw: Option<&str>) -> Result<T, ApiError> {
    match raw {
        None | Some("") => Ok(T::default()),
        Some(q) => serde_urlencoded::from_str(q).map_err(|e| ApiError::invalid(format!("bad query string: {e}"))),
    }
}

fn plugin_json(plugin: &Plugin) -> Value {
    json!({"manifest": &*plugin.manifest, "sha256": plugin.sha256, "builtin": plugin.builtin})
}

/// `GET /api/v1/plugins`: every installed plugin version with its manifest.
pub async fn list_plugins(State(app): State<AppState>, headers: HeaderMap) -> Result<impl IntoResponse, ApiError> {
    authenticate(&app, &headers).await?;
    let plugins: Vec<Value> = app.runtime.plugins().iter().map(|p| plugin_json(p)).collect();
    Ok(Json(json!({"plugins": plugins})))
}

/// `POST /api/v1/plugins` with the component as the body: checks and installs it.
pub async fn install_plugin(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    authenticate(&app, &headers).await?;
    let plugin = app.runtime.install(&app.store, &body?, false, app.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(plugin_json(&plugin))))
}

/// Which stage's robots or triggers to list; both parts optional.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StageFilter {
    entity_type: Option<String>,
    stage_id: Option<String>,
}

/// `GET /api/v1/robots?entity_type=deal&stage_id=WON`.
pub async fn list_robots(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    authenticate(&app, &headers).await?;
    let filter: StageFilter = query(raw.as_deref())?;
    let mut conn = app.store.pool().acquire().await?;
    let robots = rules::list(&mut conn, filter.entity_type.as_deref(), filter.stage_id.as_deref()).await?;
    Ok(Json(json!({"robots": robots})))
}

/// What `POST /api/v1/webhooks` takes.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    user_id: i64,
    /// What it may call; every scope when left out.
    scopes: Option<Vec<String>>,
}

/// `POST /api/v1/webhooks {"user_id": N, "scopes": ["crm", ...]}`: issues an inbound-webhook
/// token acting as a user, as Bitrix24's "inbound webhook" does; answers the path to call
/// methods under.
pub async fn create_webhook(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    authenticate(&app, &headers).await?;
    let new: NewWebhook = json_body(&body?)?;
    let mut tx = app.store.write().await?;
    let scopes = new.scopes.unwrap_or_else(directory::all_scopes);
    let token = directory::issue_token(&mut tx, new.user_id, TokenKind::Webhook, &scopes, app.clock.now()).await?;
    tx.commit().await?;
    let path = format!("/rest/{}/{token}/", new.user_id);
    Ok((
        StatusCode::CREATED,
        Json(json!({"user_id": new.user_id, "token": token, "path": path, "scopes": scopes})),
    ))
}

/// Checks that a plugin version meeting `version` is installed and that `config` fits its
/// config schema.
fn check_plugin(app: &AppState, plugin_id: &str, version: Option<&str>, config: &Value) -> Result<(), ApiError> {
    let requirement = rules::version_requirement(version)?;
    let plugin = app.runtime.plugin(plugin_id, requirement.as_ref()).ok_or_else(|| {
        ApiError::invalid(match version {
            Some(version) => format!("no installed version of plugin {plugin_id} meets {version}"),
            None => format!("plugin {plugin_id} is not installed"),
        })
    })?;
    plugin.manifest.check_config(config).map_err(ApiError::invalid)
}

/// `POST /api/v1/robots`: attaches a robot to a stage, at the end of its list.
pub async fn add_robot(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    authenticate(&app, &headers).await?;
    let new: NewRobot = json_body(&body?)?;
    check_plugin(&app, &new.plugin_id, new.plugin_version.as_deref(), &new.config)?;
    let mut tx = app.store.write().await?;
    let robot = rules::add(&mut tx, new, app.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(robot)))
}

/// `PUT /api/v1/robots/{id}`: changes a robot's name, version requirement, config, timing,
/// condition or chaining; what is left out stays.
pub async fn update_robot(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    authenticate(&app, &headers).await?;
    let changes: RobotChanges = json_body(&body?)?;
    let mut tx = app.store.write().await?;
    let current = rules::get(&mut tx, &id).await?;
    check_plugin(
        &app,
        &current.plugin_id,
        changes.plugin_version.as_deref().or(current.plugin_version.as_deref()),
        changes.config.as_ref().unwrap_or(&current.config),
    )?;
    let robot = rules::update(&mut tx, &id, changes).await?;
    tx.commit().await?;
    Ok(Json(robot))
}

/// `POST /api/v1/robots/reorder {"entity_type", "stage_id", "robot_ids": [...]}`: puts a
/// stage's robots in a new order; answers the stage's robots in it.
pub async fn reorder_robots(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Reorder {
        entity_type: String,
        stage_id: String,
        robot_ids: Vec<String>,
    }
    authenticate(&app, &headers).await?;
    let order: Reorder = json_body(&body?)?;
    let mut tx = app.store.write().await?;
    let robots = rules::reorder(&mut tx, &order.entity_type, &order.stage_id, &order.robot_ids).await?;
    tx.commit().await?;
    Ok(Json(json!({"robots": robots})))
}

/// `GET /api/v1/triggers?entity_type=deal&stage_id=WON`.
pub async fn list_triggers(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    authenticate(&app, &headers).await?;
    let filter: StageFilter = query(raw.as_deref())?;
    let mut conn = app.store.pool().acquire().await?;
    let triggers = triggers::list(&mut conn, filter.entity_type.as_deref(), filter.stage_id.as_deref()).await?;
    Ok(Json(json!({"triggers": triggers})))
}

/// `POST /api/v1/triggers`: puts a trigger on a stage.
pub async fn add_trigger(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    authenticate(&app, &headers).await?;
    let new: NewTrigger = json_body(&body?)?;
    let mut tx = app.store.write().await?;
    let trigger = triggers::add(&mut tx, new, app.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(trigger)))
}

/// `DELETE /api/v1/triggers/{id}`.
pub async fn delete_trigger(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authenticate(&app, &headers).await?;
    let mut tx = app.store.write().await?;
    triggers::delete(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/robots/{id}`.
pub async fn delete_robot(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authenticate(&app, &headers).await?;
    let mut tx = app.store.write().await?;
    rules::delete(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/runs?entity_type=deal&item_id=1&status=failed`: run records, newest first.
pub async fn list_runs(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    authenticate(&app, &headers).await?;
    let filter: RunFilter = query(raw.as_deref())?;
    let mut conn = app.store.pool().acquire().await?;
    let runs = scheduler::list_runs(&mut conn, &filter).await?;
    Ok(Json(json!({"runs": runs})))
}

/// `GET /api/v1/outbox?status=failed&run_id=run_...&limit=50`: robots' email, newest first, with
/// its delivery state (queued, sending, sent, failed), attempts and the last SMTP error.
pub async fn outbox(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    #[derive(serde::Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Filter {
        status: Option<String>,
        run_id: Option<String>,
        limit: Option<i64>,
    }
    authenticate(&app, &headers).await?;
    let filter: Filter = query(raw.as_deref())?;
    let limit = filter.limit.unwrap_or(50).clamp(1, 500);
    let mut conn = app.store.pool().acquire().await?;
    let messages = mailer::outbox(&mut conn, filter.status.as_deref(), filter.run_id.as_deref(), limit).await?;
    Ok(Json(json!({"messages": messages})))
}

/// `GET /api/v1/timeline?entity_type=deal&item_id=12`: what happened to an item, oldest first:
/// its events (created, fields and stage changed, comments, completed activities and tasks,
/// triggers fired) and its robots' runs (at the time they finished, or are due).
pub async fn timeline(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    #[derive(serde::Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Item {
        entity_type: String,
        item_id: i64,
    }
    authenticate(&app, &headers).await?;
    let item: Item = query(raw.as_deref())?;
    let item_ref = ItemRef {
        entity_type: EntityType::parse(&item.entity_type)?,
        id: item.item_id,
    };
    let mut conn = app.store.pool().acquire().await?;
    let mut entries: Vec<(i64, Value)> = crate::crm::events(&mut conn, item_ref)
        .await?
        .into_iter()
        .map(|e| (e.at, json!({"at": e.at, "kind": e.kind, "payload": e.payload})))
        .collect();
    let filter = RunFilter {
        entity_type: Some(item.entity_type),
        item_id: Some(item.item_id),
        limit: Some(1000),
        ..RunFilter::default()
    };
    for run in scheduler::list_runs(&mut conn, &filter).await? {
        let at = run.finished_at.unwrap_or(run.due_at);
        entries.push((at, json!({"at": at, "kind": "robot_run", "run": run})));
    }
    entries.sort_by_key(|(at, _)| *at);
    Ok(Json(
        json!({"entries": entries.into_iter().map(|(_, e)| e).collect::<Vec<_>>()}),
    ))
}

/// `POST /api/v1/simulate {"entity_type", "item_id", "stage_id", "at"?}`: which robots would
/// run if the item entered the stage at `at` (now when left out), when, whether their
/// conditions hold and with which config. Nothing is written.
pub async fn simulate(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Simulation {
        entity_type: String,
        item_id: i64,
        stage_id: String,
        at: Option<i64>,
    }
    authenticate(&app, &headers).await?;
    let asked: Simulation = json_body(&body?)?;
    let item_ref = ItemRef {
        entity_type: EntityType::parse(&asked.entity_type)?,
        id: asked.item_id,
    };
    let at = asked.at.unwrap_or_else(|| app.clock.now());
    let mut conn = app.store.pool().acquire().await?;
    let runs = rules::simulate(&mut conn, item_ref, &asked.stage_id, at).await?;
    let runs: Vec<Value> = runs
        .into_iter()
        .map(|run| {
            let mut out = json!({"robot_id": run.robot_id, "name": run.name, "plugin_id": run.plugin_id});
            match run.due_at {
                Ok(due) => out["due_at"] = json!(due),
                Err(why) => out["due_error"] = json!(why),
            }
            out["condition_holds"] = json!(run.condition.is_ok());
            if let Err(why) = run.condition {
                out["condition_error"] = json!(why);
            }
            match run.config {
                Ok(config) => out["config"] = config,
                Err(why) => out["config_error"] = json!(why),
            }
            out
        })
        .collect();
    Ok(Json(json!({"at": at, "runs": runs})))
}

/// `POST /api/v1/runs/{id}/retry`: puts a failed run back in line, to run with the plugin
/// version installed now.
pub async fn retry_run(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    authenticate(&app, &headers).await?;
    let mut tx = app.store.write().await?;
    let run = scheduler::retry(&mut tx, &id, app.clock.now()).await?;
    tx.commit().await?;
    app.scheduler.wake();
    Ok(Json(run))
}

/// `GET /api/v1/calendar`: the business-hours calendar working-time delays count in.
pub async fn get_calendar(State(app): State<AppState>, headers: HeaderMap) -> Result<impl IntoResponse, ApiError> {
    authenticate(&app, &headers).await?;
    let mut conn = app.store.pool().acquire().await?;
    Ok(Json(calendar::load(&mut conn).await?))
}

/// `PUT /api/v1/calendar {"work_days": [1,2,3,4,5], "start": "09:00", "end": "18:00",
/// "utc_offset_minutes": 0}`: sets it; runs already scheduled keep their due time.
pub async fn put_calendar(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    authenticate(&app, &headers).await?;
    let calendar: Calendar = json_body(&body?)?;
    let mut tx = app.store.write().await?;
    calendar::save(&mut tx, &calendar).await?;
    tx.commit().await?;
    Ok(Json(calendar))
}

/// `POST /api/v1/clock/advance` with `{"ms": N}`: moves a manual clock forward and wakes the
/// scheduler, so delayed robots come due without waiting. Refused on the system clock.
pub async fn advance_clock(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Advance {
        ms: u32,
    }
    authenticate(&app, &headers).await?;
    let advance: Advance = json_body(&body?)?;
    let now = app.clock.advance(i64::from(advance.ms)).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "CLOCK_NOT_MANUAL",
            "the server runs on the system clock; start it with --manual-clock",
        )
    })?;
    app.scheduler.wake();
    Ok(Json(json!({"now_ms": now})))
}
