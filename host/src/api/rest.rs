//! The Bitrix24 REST dialect: `/rest/{user}/{token}/{method}` with Bitrix24's parameter and
//! response shapes, so existing Bitrix24 client libraries work unchanged.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

mod activities;
mod automation;
mod batch;
mod bizproc;
mod booking;
mod directory;
mod feed;
mod items;
mod notify;
mod pipelines;
mod stage_history;
mod tasks;
mod types;
mod userfield_methods;

use super::{ApiError, AppState, params, session};
use crate::crm::userfields;
use crate::crm::{self, ListQuery, Page};
use crate::directory::{TokenHolder, TokenKind, all_scopes};
use crate::model::IS_NEW_FIELD;
use crate::model::userfield::UserField;
use crate::model::{EntityType, Item, ItemRef, Write, check_fields, rest_datetime};
use crate::permissions::{Access, ItemAction};
use crate::rules::Engine;
use crate::store::Conn;
use crate::store::Tx;

/// Items per page of a `*.list` answer, as in Bitrix24.
const PAGE_SIZE: i64 = 50;

/// What a method answers besides `result`: paging for lists.
struct Answer {
    result: Value,
    total: Option<i64>,
    next: Option<i64>,
}

impl Answer {
    /// One page of a list, with `total` and `next` when the page was counted (Bitrix24's
    /// `start=-1` answers neither).
    fn page(result: Value, total: Option<i64>, page: Page) -> Self {
        let next = page.start + page.limit;
        Self {
            result,
            total,
            next: total.filter(|total| next < *total).map(|_| next),
        }
    }
}

impl From<Value> for Answer {
    fn from(result: Value) -> Self {
        Self {
            result,
            total: None,
            next: None,
        }
    }
}

/// Handles a REST call through an inbound webhook: authenticates its token, then answers.
pub async fn call(
    State(app): State<AppState>,
    Path((user, token, method)): Path<(i64, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let caller = authenticate(&app, user, &token).await;
    answer(&app, caller, &method, query, &headers, body).await
}

/// Handles a REST 3.0 call (`/rest/api/{user}/{token}/{method}`), which Bitrix24's SDKs make only
/// when asked to (b24pysdk's `prefer_version=3`, b24jssdk's `actions.v3`). Stagewright serves its
/// methods as REST 2, and neither SDK falls back by itself, so every method is refused the way
/// REST 3.0 refuses an unknown one: 404 with `BITRIX_REST_V3_EXCEPTION_METHODNOTFOUNDEXCEPTION`,
/// which b24pysdk raises as its v3 `BitrixAPIError` and b24jssdk answers as a soft error, with a
/// message naming the REST 2 path that serves it. Wrong credentials are refused first.
pub async fn call_v3(
    State(app): State<AppState>,
    Path((user, token, method)): Path<(i64, String, String)>,
) -> Response {
    let (status, code, message) = match authenticate(&app, user, &token).await {
        Err(_) => (
            StatusCode::UNAUTHORIZED,
            "BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION",
            "Invalid request credentials".to_string(),
        ),
        Ok(_) => (
            StatusCode::NOT_FOUND,
            "BITRIX_REST_V3_EXCEPTION_METHODNOTFOUNDEXCEPTION",
            format!(
                "Method {method} is not served over REST 3.0: call /rest/{user}/{{token}}/{method} (REST 2) instead"
            ),
        ),
    };
    (status, Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

/// Handles `/rest/{method}` from a signed-in board page, as Bitrix24's own pages call REST with
/// their session: the session's user is the caller, with every scope, and the CSRF token must
/// come with every call (REST methods change things through GET as well as POST).
pub async fn call_in_session(
    State(app): State<AppState>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let caller = async {
        let signed_in = session::signed_in(&app, &headers)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        session::check_csrf(&axum::http::Method::POST, &headers, &signed_in)?;
        let mut conn = app.store.pool().acquire().await?;
        Ok(TokenHolder {
            user: crate::directory::user(&mut conn, signed_in.user_id).await?,
            scopes: all_scopes(),
        })
    }
    .await;
    answer(&app, caller, &method, query, &headers, body).await
}

/// Bitrix24's `time` of an answer (or of one batch command): when it started and finished by
/// the host's clock, and how long it took.
fn time_taken(started: Instant, started_at: i64, finished_at: i64) -> Value {
    let duration = started.elapsed().as_secs_f64();
    json!({
        "start": started_at as f64 / 1000.0,
        "finish": finished_at as f64 / 1000.0,
        "duration": duration,
        "processing": duration,
        "date_start": rest_datetime(started_at),
        "date_finish": rest_datetime(finished_at),
    })
}

/// Parses the parameters, dispatches the method as `caller` and writes Bitrix24's answer.
async fn answer(
    app: &AppState,
    caller: Result<TokenHolder, ApiError>,
    method: &str,
    query: Option<String>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let started_at = app.clock.now();
    let method = method.strip_suffix(".json").unwrap_or(method).to_ascii_lowercase();
    let answer = async {
        let caller = caller?;
        let access = {
            let mut conn = app.store.pool().acquire().await?;
            Access::of_user(&mut conn, &caller.user, false).await?
        };
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let params = params::parse(query.as_deref(), content_type, &body?)?;
        dispatch(app, &caller, &access, &method, &params).await
    }
    .await;
    match answer {
        Ok(answer) => {
            let mut body = json!({
                "result": answer.result,
                "time": time_taken(started, started_at, app.clock.now()),
            });
            if let Some(total) = answer.total {
                body["total"] = json!(total);
            }
            if let Some(next) = answer.next {
                body["next"] = json!(next);
            }
            (StatusCode::OK, Json(body)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// The webhook token's holder, if the token belongs to the user named in the URL.
async fn authenticate(app: &AppState, user: i64, token: &str) -> Result<TokenHolder, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    match crate::directory::token_holder(&mut conn, token, TokenKind::Webhook).await? {
        Some(holder) if holder.user.id == user => Ok(holder),
        _ => Err(ApiError::unauthorized()),
    }
}

/// The scope a method needs, by its family; `None` for `batch`, whose commands are checked one
/// by one.
fn required_scope(method: &str) -> Option<&'static str> {
    let family = method.split('.').next().unwrap_or_default();
    match family {
        "batch" => None,
        "tasks" => Some("task"),
        "user" => Some("user"),
        "department" => Some("department"),
        "im" => Some("im"),
        "bizproc" => Some("bizproc"),
        "log" => Some("log"),
        "booking" => Some("booking"),
        _ => Some("crm"),
    }
}

async fn dispatch(
    app: &AppState,
    caller: &TokenHolder,
    access: &Access,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Answer, ApiError> {
    if let Some(scope) = required_scope(method)
        && !caller.scopes.iter().any(|s| s == scope)
    {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "insufficient_scope",
            format!("The request requires higher privileges than provided by the webhook token (scope {scope})"),
        ));
    }
    let user = caller.user.id;
    let item_call = method.strip_prefix("crm.").and_then(|m| m.split_once('.'));
    let standard = |name: &str| EntityType::STANDARD.into_iter().find(|t| t.to_string() == name);
    if let Some((entity_type, action)) = item_call.and_then(|(e, a)| standard(e).map(|t| (t, a))) {
        return item_method(app, access, entity_type, action, p).await;
    }
    match method {
        "batch" => Box::pin(batch::run(app, caller, access, p)).await,
        "crm.timeline.comment.add" => comment_add(app, user, p).await,
        "crm.timeline.comment.list" => comment_list(app, p).await,
        "crm.stagehistory.list" => stage_history::list(app, access, p).await,
        _ if method.starts_with("crm.item.") => items::dispatch(app, access, method, p).await,
        _ if method.starts_with("crm.automation.trigger") => automation::dispatch(app, user, method, p).await,
        _ if method.starts_with("crm.type.") => types::dispatch(app, user, method, p).await,
        _ if method.starts_with("bizproc.") => bizproc::dispatch(app, user, method, p).await,
        _ if method.starts_with("log.") => feed::dispatch(app, user, method, p).await,
        _ if method.starts_with("booking.v1.") => booking::dispatch(app, user, method, p).await,
        _ if method.starts_with("tasks.task.") => tasks::dispatch(app, user, method, p).await,
        _ if method.starts_with("crm.activity.") => activities::dispatch(app, user, method, p).await,
        _ if method.starts_with("im.notify") => notify::dispatch(app, user, method, p).await,
        _ if method.starts_with("user.") || method.starts_with("department.") => {
            directory::dispatch(app, user, method, p).await
        }
        _ if method.starts_with("crm.category.") || method.starts_with("crm.status.") => {
            pipelines::dispatch(app, method, p).await
        }
        _ => Err(unknown_method()),
    }
}

fn unknown_method() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "ERROR_METHOD_NOT_FOUND", "Method not found!")
}

async fn item_method(
    app: &AppState,
    access: &Access,
    entity_type: EntityType,
    action: &str,
    p: &Map<String, Value>,
) -> Result<Answer, ApiError> {
    match action {
        "add" => {
            let created = add_item(app, access, entity_type, &params::object(p, "fields")?).await?;
            Ok(json!(created.id).into())
        }
        "get" => {
            let item_ref = ItemRef {
                entity_type,
                id: params::id(p, "id")?,
            };
            let mut conn = app.store.pool().acquire().await?;
            let item = readable_item(&mut conn, access, item_ref).await?;
            Ok(Value::Object(item.to_rest()).into())
        }
        "update" => {
            let item_ref = ItemRef {
                entity_type,
                id: params::id(p, "id")?,
            };
            update_item(app, access, item_ref, &params::object(p, "fields")?).await?;
            Ok(json!(true).into())
        }
        "delete" => {
            let item_ref = ItemRef {
                entity_type,
                id: params::id(p, "id")?,
            };
            delete_item(app, access, item_ref).await?;
            Ok(json!(true).into())
        }
        "list" => item_list(app, access, entity_type, p).await,
        "fields" => {
            let mut conn = app.store.pool().acquire().await?;
            let custom = userfields::userfields(&mut conn, entity_type).await?;
            Ok(fields_description(entity_type, &custom).into())
        }
        _ if action.starts_with("userfield.") => userfield_methods::dispatch(app, entity_type, action, p).await,
        _ => Err(unknown_method()),
    }
}

async fn item_list(
    app: &AppState,
    access: &Access,
    entity_type: EntityType,
    p: &Map<String, Value>,
) -> Result<Answer, ApiError> {
    let page = params::page(p, PAGE_SIZE)?;
    let query = ListQuery {
        filter: access.readable(entity_type, params::object(p, "filter")?)?,
        order: params::object(p, "order")?,
        page,
    };
    let select = params::strings(p, "select")?;
    let mut conn = app.store.pool().acquire().await?;
    let (items, total) = crm::list(&mut conn, entity_type, &query).await?;
    let rows = items
        .iter()
        .map(|item| Value::Object(item.to_rest_selected(&select)))
        .collect();
    Ok(Answer::page(Value::Array(rows), total, page))
}

/// An item the caller may read.
async fn readable_item(conn: &mut Conn, access: &Access, item_ref: ItemRef) -> Result<Item, ApiError> {
    let item = crm::get(conn, item_ref).await?;
    access.check_stored(&item, ItemAction::Read)?;
    Ok(item)
}

/// The responsible person REST `fields` name, as a number or as text.
fn responsible(fields: &Map<String, Value>) -> Option<i64> {
    match fields.get("ASSIGNED_BY_ID")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Creates an item from REST `fields` (standard names), checked against the type's standard
/// and custom fields inside the write transaction so the custom fields cannot change underneath.
/// The caller's role must allow adding an item with that responsible person (the caller, when
/// none is named).
async fn add_item(
    app: &AppState,
    access: &Access,
    entity_type: EntityType,
    fields: &Map<String, Value>,
) -> Result<ItemRef, ApiError> {
    let named = responsible(fields).unwrap_or(access.user_id);
    access.check_item(entity_type, ItemAction::Add, Some(named))?;
    let mut tx = app.store.write().await?;
    let custom = userfields::userfields(&mut tx, entity_type).await?;
    let changes = check_fields(entity_type, &custom, fields, Write::Create)?;
    let created = crm::create(
        &mut tx,
        &Engine,
        entity_type,
        None,
        changes,
        access.user_id,
        app.clock.now(),
    )
    .await?;
    commit_and_wake(app, tx, created.robots_scheduled > 0).await?;
    Ok(created.item)
}

/// Changes an item's fields (and stage) from REST `fields`, checked as [`add_item`] does, if the
/// caller's role allows changing it.
async fn update_item(
    app: &AppState,
    access: &Access,
    item_ref: ItemRef,
    fields: &Map<String, Value>,
) -> Result<(), ApiError> {
    let mut tx = app.store.write().await?;
    access.check_stored(&crm::get(&mut tx, item_ref).await?, ItemAction::Update)?;
    let custom = userfields::userfields(&mut tx, item_ref.entity_type).await?;
    let changes = check_fields(item_ref.entity_type, &custom, fields, Write::Update)?;
    crm::update(&mut tx, &Engine, item_ref, changes, app.clock.now()).await?;
    commit_and_wake(app, tx, true).await?;
    Ok(())
}

/// Commits a REST write and, if `wake`, wakes the scheduler as soon as others see the write: when
/// it scheduled robot runs, or recorded a happening (a field change, an activity, a comment, a
/// completed task) that may end waits whose chains then go on. The robots run while the commit
/// goes to disk (what they send out waits for it, [`crate::store::Syncing`]); the answer waits
/// for it. Waking when nothing came due costs one worker a look for due runs.
async fn commit_and_wake(app: &AppState, tx: Tx, wake: bool) -> Result<(), ApiError> {
    let syncing = tx.commit_visible().await?;
    if wake {
        app.scheduler.wake();
    }
    syncing.on_disk().await?;
    Ok(())
}

/// Deletes an item, if the caller's role allows; its pending robots are cancelled.
async fn delete_item(app: &AppState, access: &Access, item_ref: ItemRef) -> Result<(), ApiError> {
    let mut tx = app.store.write().await?;
    access.check_stored(&crm::get(&mut tx, item_ref).await?, ItemAction::Delete)?;
    crm::delete(&mut tx, &Engine, item_ref, app.clock.now()).await?;
    tx.commit().await?;
    Ok(())
}

fn fields_description(entity_type: EntityType, custom: &[UserField]) -> Value {
    let mut out = Map::new();
    let read_only = |kind: &str, title: &str| json!({"type": kind, "isRequired": false, "isReadOnly": true, "isImmutable": false, "isMultiple": false, "isDynamic": false, "title": title});
    out.insert("ID".into(), read_only("integer", "ID"));
    for spec in entity_type.fields() {
        out.insert(
            spec.name.into(),
            json!({"type": spec.kind.rest_type(), "isRequired": false, "isReadOnly": false, "isImmutable": false, "isMultiple": false, "isDynamic": false, "title": spec.title}),
        );
    }
    if entity_type.has_stages() {
        out.insert(entity_type.stage_field().into(), json!({"type": "crm_status", "isRequired": false, "isReadOnly": false, "isImmutable": false, "isMultiple": false, "isDynamic": false, "title": "Stage"}));
    }
    if entity_type.has_categories() {
        out.insert("CATEGORY_ID".into(), json!({"type": "crm_category", "isRequired": false, "isReadOnly": false, "isImmutable": true, "isMultiple": false, "isDynamic": false, "title": "Pipeline"}));
    }
    for flag in entity_type.repeat_flags() {
        out.insert(flag.name.into(), read_only("char", flag.title));
    }
    if entity_type.shows_is_new() {
        out.insert(IS_NEW_FIELD.into(), read_only("char", "New"));
    }
    out.insert("CREATED_BY_ID".into(), read_only("user", "Created by"));
    out.insert("DATE_CREATE".into(), read_only("datetime", "Created"));
    out.insert("DATE_MODIFY".into(), read_only("datetime", "Modified"));
    for field in custom {
        out.insert(field.field_name.clone(), field.description());
    }
    Value::Object(out)
}

fn comment_target(fields: &Map<String, Value>) -> Result<ItemRef, ApiError> {
    let entity = params::get(fields, "ENTITY_TYPE")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("ENTITY_TYPE is not defined or invalid."))?;
    let entity_type = EntityType::parse(&entity.to_ascii_lowercase())?;
    Ok(ItemRef {
        entity_type,
        id: params::id(fields, "ENTITY_ID")?,
    })
}

async fn comment_add(app: &AppState, user: i64, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let fields = params::object(p, "fields")?;
    let item_ref = comment_target(&fields)?;
    let text = params::get(&fields, "COMMENT")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("COMMENT is not defined or invalid."))?;
    let mut tx = app.store.write().await?;
    let id = crm::add_comment(&mut tx, &Engine, item_ref, None, user, text, app.clock.now()).await?;
    commit_and_wake(app, tx, true).await?;
    Ok(json!(id).into())
}

async fn comment_list(app: &AppState, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let item_ref = comment_target(&params::object(p, "filter")?)?;
    let mut conn = app.store.pool().acquire().await?;
    let comments = crm::comments(&mut conn, item_ref).await?;
    let rows: Vec<Value> = comments
        .iter()
        .map(|c| {
            json!({
                "ID": c.id.to_string(),
                "ENTITY_ID": item_ref.id.to_string(),
                "ENTITY_TYPE": item_ref.entity_type.to_string(),
                "AUTHOR_ID": c.author_id.to_string(),
                "COMMENT": c.text,
                "CREATED": rest_datetime(c.created_at),
            })
        })
        .collect();
    let total = rows.len() as i64;
    Ok(Answer {
        result: Value::Array(rows),
        total: Some(total),
        next: None,
    })
}
