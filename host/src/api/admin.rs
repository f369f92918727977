//! The admin API (`/api/v1`): plugins, robots and run history, as JSON, behind the admin token.
//! Each handler carries its OpenAPI description (`api::openapi` gathers them), next to the code
//! it describes, so the document cannot drift from the routes' shapes.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::error::ErrorBody;
use super::{ApiError, AppState, session};
use crate::clock::Millis;
use crate::crm::pipeline_report::{self, Period, PipelineReport};
use crate::crm::repeat::{self, Exception, Kind, NewExceptions};
use crate::crm::repeat_sales::{self, RepeatSales};
use crate::directory::{self, Absence, AbsenceKind, NewAbsence, TokenKind};
use crate::model::{CrmError, EntityType, ItemRef, parse_datetime};
use crate::outbox::{self, OutboxEntry};
use crate::permissions::{self, Access, NewRole, Role, RuleAccess};
use crate::queue::{self, RunFilter, RunRecord};
use crate::returns::{self, Return, ReturnRule};
use crate::rules::calendar::{self, Calendar};
use crate::rules::triggers::{self, NewTrigger, Trigger};
use crate::rules::{self, NewRobot, Robot, RobotChanges};
use crate::runtime::{Manifest, Plugin};
use crate::segments::{self, Segment, SegmentRun};
use crate::sessions;
use crate::store::Tx;
use crate::timeline;

/// Who is calling the admin API, and what their roles allow. The route layer [`authenticate`]
/// puts it in every admin API request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// What the caller may do.
    pub access: Arc<Access>,
}

/// An administrator calling: the route layer [`require_admin`] puts it in the requests of the
/// routes only administrators may use, so a handler that takes `Extension<Admin>` cannot run for
/// anyone else.
#[derive(Debug, Clone, Copy)]
pub struct Admin {
    /// The administrator's user.
    pub user_id: i64,
}

/// Checks the caller before any admin API handler runs: the one place its authentication
/// happens. An admin token in `Authorization: Bearer`, or a board session (with its CSRF token on
/// changes). A request with neither gets 401 and reaches no handler.
pub async fn authenticate(State(app): State<AppState>, mut request: Request, next: Next) -> Result<Response, ApiError> {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let access = match bearer {
        Some(token) => {
            let mut conn = app.store.pool().acquire().await?;
            let holder = directory::token_holder(&mut conn, token.trim(), TokenKind::Admin).await?;
            let holder = holder.ok_or_else(ApiError::unauthorized)?;
            Access::everything(holder.user.id)
        }
        None => {
            let signed_in = session::signed_in(&app, request.headers())
                .await?
                .ok_or_else(ApiError::unauthorized)?;
            session::check_csrf(request.method(), request.headers(), &signed_in)?;
            let mut conn = app.store.pool().acquire().await?;
            Access::of(&mut conn, signed_in.user_id, signed_in.is_admin).await?
        }
    };
    request.extensions_mut().insert(Caller {
        access: Arc::new(access),
    });
    Ok(next.run(request).await)
}

/// Lets only administrators through to the routes it covers (403 for anyone else).
pub async fn require_admin(mut request: Request, next: Next) -> Result<Response, ApiError> {
    let caller = request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(ApiError::unauthorized)?;
    if !caller.access.is_admin {
        return Err(ApiError::forbidden("Only administrators may do this"));
    }
    request.extensions_mut().insert(Admin {
        user_id: caller.access.user_id,
    });
    Ok(next.run(request).await)
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

/// An installed plugin version.
#[derive(Serialize, ToSchema)]
pub struct InstalledPlugin {
    /// What it is and needs.
    manifest: Manifest,
    /// SHA-256 of its component, hex.
    sha256: String,
    /// Whether it ships with the host.
    builtin: bool,
    /// The `stagewright:action` contract version it was built against ("0.1.5"), from its
    /// imports; none for a component that imports none of the contract's interfaces.
    contract: Option<String>,
    /// Its capabilities as an admin reads them ("reads deals", "sends email").
    capabilities_in_words: Vec<String>,
    /// For a Bitrix24 app's robot (`app:<CODE>`, registered with `bizproc.robot.add`), the
    /// handler its runs are posted to; none for a Wasm component.
    app_handler: Option<String>,
}

impl From<&Plugin> for InstalledPlugin {
    fn from(plugin: &Plugin) -> Self {
        Self {
            manifest: (*plugin.manifest).clone(),
            sha256: plugin.sha256.clone(),
            builtin: plugin.builtin,
            contract: plugin.contract.as_ref().map(ToString::to_string),
            capabilities_in_words: plugin.manifest.capabilities.iter().map(|c| c.in_words()).collect(),
            app_handler: plugin.app().map(|app| app.handler.clone()),
        }
    }
}

/// Every installed plugin version.
#[derive(Serialize, ToSchema)]
pub struct PluginList {
    /// By id, then version.
    plugins: Vec<InstalledPlugin>,
}

/// A stage's (or every stage's) robots.
#[derive(Serialize, ToSchema)]
pub struct RobotList {
    /// In stage order.
    robots: Vec<Robot>,
}

/// A stage's (or every stage's) triggers.
#[derive(Serialize, ToSchema)]
pub struct TriggerList {
    /// In stage order.
    triggers: Vec<Trigger>,
}

/// Run records.
#[derive(Serialize, ToSchema)]
pub struct RunList {
    /// Newest first.
    runs: Vec<RunRecord>,
}

/// Robots' email.
#[derive(Serialize, ToSchema)]
pub struct OutboxList {
    /// Newest first.
    messages: Vec<OutboxEntry>,
}

/// What happened to an item.
#[derive(Serialize, ToSchema)]
pub struct Timeline {
    /// Oldest first: `{"at", "kind", "payload"}` for events, `{"at", "kind": "robot_run", "run"}`
    /// for runs.
    #[schema(value_type = Vec<Object>)]
    entries: Vec<Value>,
}

/// `GET /api/v1/plugins`: every installed plugin version with its manifest.
#[utoipa::path(get, path = "/api/v1/plugins", tag = "plugins", security(("admin_token" = [])),
    responses((status = 200, body = PluginList), (status = 401, body = ErrorBody)))]
pub async fn list_plugins(State(app): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let plugins = app
        .runtime
        .plugins()
        .iter()
        .map(|p| InstalledPlugin::from(&**p))
        .collect();
    Ok(Json(PluginList { plugins }))
}

/// `POST /api/v1/plugins` with the component as the body: checks and installs it.
#[utoipa::path(post, path = "/api/v1/plugins", tag = "plugins", security(("admin_token" = [])),
    request_body(content = Vec<u8>, content_type = "application/wasm", description = "A WebAssembly component of the stagewright:action world"),
    responses((status = 201, body = InstalledPlugin), (status = 400, description = "Not a component, the wrong world or a bad manifest", body = ErrorBody)))]
pub async fn install_plugin(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let plugin = app.runtime.install(&app.store, &body?, false, app.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(InstalledPlugin::from(&*plugin))))
}

/// `POST /api/v1/plugins/inspect` with the component as the body: checks it as an install does
/// and answers its manifest and capabilities, installing nothing, so an admin can review what
/// it asks for before installing it.
#[utoipa::path(post, path = "/api/v1/plugins/inspect", tag = "plugins", security(("admin_token" = [])),
    request_body(content = Vec<u8>, content_type = "application/wasm", description = "A WebAssembly component of the stagewright:action world"),
    responses((status = 200, body = InstalledPlugin), (status = 422, description = "Not a component, the wrong world or a bad manifest", body = ErrorBody)))]
pub async fn inspect_plugin(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let plugin = app.runtime.inspect(&app.store, &body?).await?;
    Ok(Json(InstalledPlugin::from(&plugin)))
}

/// Which stage's robots or triggers to list; both parts optional.
#[derive(serde::Deserialize, Default, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StageFilter {
    /// "deal", "lead", "dynamic_128", ...
    entity_type: Option<String>,
    /// A stage id of that entity type.
    stage_id: Option<String>,
}

/// `GET /api/v1/robots?entity_type=deal&stage_id=WON`.
#[utoipa::path(get, path = "/api/v1/robots", tag = "robots", security(("admin_token" = [])), params(StageFilter),
    responses((status = 200, body = RobotList), (status = 400, body = ErrorBody)))]
pub async fn list_robots(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let filter: StageFilter = query(raw.as_deref())?;
    let mut conn = app.store.pool().acquire().await?;
    if let Some(entity_type) = &filter.entity_type {
        caller
            .access
            .check_automation(EntityType::parse(entity_type)?, RuleAccess::Read)?;
    }
    let mut robots = rules::list(&mut conn, filter.entity_type.as_deref(), filter.stage_id.as_deref()).await?;
    robots.retain(|r| readable_rules(&caller, &r.entity_type));
    Ok(Json(RobotList { robots }))
}

/// What `POST /api/v1/webhooks` takes.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// The user calls through it act as.
    user_id: i64,
    /// What it may call (crm, task, user, department, im); every scope when left out.
    scopes: Option<Vec<String>>,
}

/// An issued inbound webhook.
#[derive(Serialize, ToSchema)]
pub struct Webhook {
    /// The user calls through it act as.
    user_id: i64,
    /// Its secret.
    token: String,
    /// Where to call methods: `/rest/{user_id}/{token}/`.
    path: String,
    /// What it may call.
    scopes: Vec<String>,
}

/// `POST /api/v1/webhooks {"user_id": N, "scopes": ["crm", ...]}`: issues an inbound-webhook
/// token acting as a user, as Bitrix24's "inbound webhook" does; answers the path to call
/// methods under.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", security(("admin_token" = [])), request_body = NewWebhook,
    responses((status = 201, body = Webhook), (status = 400, body = ErrorBody)))]
pub async fn create_webhook(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let new: NewWebhook = json_body(&body?)?;
    let mut tx = app.store.write().await?;
    let scopes = new.scopes.unwrap_or_else(directory::all_scopes);
    let token = directory::issue_token(&mut tx, new.user_id, TokenKind::Webhook, &scopes, app.clock.now()).await?;
    tx.commit().await?;
    let path = format!("/rest/{}/{token}/", new.user_id);
    let webhook = Webhook {
        user_id: new.user_id,
        token,
        path,
        scopes,
    };
    Ok((StatusCode::CREATED, Json(webhook)))
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

/// Whether the caller may see the automation rules of an entity type (named as stored).
fn readable_rules(caller: &Caller, entity_type: &str) -> bool {
    EntityType::parse(entity_type).is_ok_and(|t| caller.access.automation(t) >= RuleAccess::Read)
}

/// Refuses a change to the automation rules of an entity type the caller may not change.
fn check_rules_change(caller: &Caller, entity_type: &str) -> Result<(), ApiError> {
    Ok(caller
        .access
        .check_automation(EntityType::parse(entity_type)?, RuleAccess::Update)?)
}

/// `POST /api/v1/robots`: attaches a robot to a stage, at the end of its list.
#[utoipa::path(post, path = "/api/v1/robots", tag = "robots", security(("admin_token" = [])), request_body = NewRobot,
    responses((status = 201, body = Robot), (status = 400, description = "Unknown stage or plugin, a config that does not fit the plugin's schema, a bad timing or condition", body = ErrorBody)))]
pub async fn add_robot(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let new: NewRobot = json_body(&body?)?;
    check_rules_change(&caller, &new.entity_type)?;
    check_plugin(&app, &new.plugin_id, new.plugin_version.as_deref(), &new.config)?;
    let mut tx = app.store.write().await?;
    let robot = rules::add(&mut tx, new, app.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(robot)))
}

/// `PUT /api/v1/robots/{id}`: changes a robot's name, version requirement, config, timing,
/// condition or chaining; what is left out stays.
#[utoipa::path(put, path = "/api/v1/robots/{id}", tag = "robots", security(("admin_token" = [])),
    params(("id" = String, Path, description = "The robot")), request_body = RobotChanges,
    responses((status = 200, body = Robot), (status = 400, body = ErrorBody)))]
pub async fn update_robot(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let changes: RobotChanges = json_body(&body?)?;
    let mut tx = app.store.write().await?;
    let current = rules::get(&mut tx, &id).await?;
    check_rules_change(&caller, &current.entity_type)?;
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

/// A stage's robots in a new order.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reorder {
    /// The entity type.
    entity_type: String,
    /// The stage.
    stage_id: String,
    /// Every robot of the stage, in the new order.
    robot_ids: Vec<String>,
}

/// `POST /api/v1/robots/reorder {"entity_type", "stage_id", "robot_ids": [...]}`: puts a
/// stage's robots in a new order; answers the stage's robots in it.
#[utoipa::path(post, path = "/api/v1/robots/reorder", tag = "robots", security(("admin_token" = [])), request_body = Reorder,
    responses((status = 200, body = RobotList), (status = 400, body = ErrorBody)))]
pub async fn reorder_robots(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let order: Reorder = json_body(&body?)?;
    check_rules_change(&caller, &order.entity_type)?;
    let mut tx = app.store.write().await?;
    let robots = rules::reorder(&mut tx, &order.entity_type, &order.stage_id, &order.robot_ids).await?;
    tx.commit().await?;
    Ok(Json(RobotList { robots }))
}

/// `GET /api/v1/triggers?entity_type=deal&stage_id=WON`.
#[utoipa::path(get, path = "/api/v1/triggers", tag = "triggers", security(("admin_token" = [])), params(StageFilter),
    responses((status = 200, body = TriggerList), (status = 400, body = ErrorBody)))]
pub async fn list_triggers(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let filter: StageFilter = query(raw.as_deref())?;
    if let Some(entity_type) = &filter.entity_type {
        caller
            .access
            .check_automation(EntityType::parse(entity_type)?, RuleAccess::Read)?;
    }
    let mut conn = app.store.pool().acquire().await?;
    let mut triggers = triggers::list(&mut conn, filter.entity_type.as_deref(), filter.stage_id.as_deref()).await?;
    triggers.retain(|t| readable_rules(&caller, &t.entity_type));
    Ok(Json(TriggerList { triggers }))
}

/// `POST /api/v1/triggers`: puts a trigger on a stage.
#[utoipa::path(post, path = "/api/v1/triggers", tag = "triggers", security(("admin_token" = [])), request_body = NewTrigger,
    responses((status = 201, body = Trigger), (status = 400, body = ErrorBody)))]
pub async fn add_trigger(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let new: NewTrigger = json_body(&body?)?;
    check_rules_change(&caller, &new.entity_type)?;
    let mut tx = app.store.write().await?;
    let trigger = triggers::add(&mut tx, new, app.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(trigger)))
}

/// `DELETE /api/v1/triggers/{id}`.
#[utoipa::path(delete, path = "/api/v1/triggers/{id}", tag = "triggers", security(("admin_token" = [])),
    params(("id" = String, Path, description = "The trigger")),
    responses((status = 204, description = "Deleted"), (status = 400, body = ErrorBody)))]
pub async fn delete_trigger(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let mut tx = app.store.write().await?;
    check_rules_change(&caller, &triggers::get(&mut tx, &id).await?.entity_type)?;
    triggers::delete(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/robots/{id}`.
#[utoipa::path(delete, path = "/api/v1/robots/{id}", tag = "robots", security(("admin_token" = [])),
    params(("id" = String, Path, description = "The robot")),
    responses((status = 204, description = "Deleted; its pending runs are cancelled when due"), (status = 400, body = ErrorBody)))]
pub async fn delete_robot(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let mut tx = app.store.write().await?;
    check_rules_change(&caller, &rules::get(&mut tx, &id).await?.entity_type)?;
    rules::delete(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/runs?entity_type=deal&item_id=1&status=failed`: run records, newest first.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", security(("admin_token" = [])), params(RunFilter),
    responses((status = 200, body = RunList), (status = 400, body = ErrorBody)))]
pub async fn list_runs(State(app): State<AppState>, RawQuery(raw): RawQuery) -> Result<impl IntoResponse, ApiError> {
    let filter: RunFilter = query(raw.as_deref())?;
    let mut conn = app.store.pool().acquire().await?;
    let runs = queue::list(&mut conn, &filter).await?;
    Ok(Json(RunList { runs }))
}

/// `GET /api/v1/runs/{id}`: one run record.
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs", security(("admin_token" = [])),
    params(("id" = String, Path, description = "The run")),
    responses((status = 200, body = RunRecord), (status = 404, body = ErrorBody)))]
pub async fn get_run(State(app): State<AppState>, Path(id): Path<String>) -> Result<impl IntoResponse, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    match queue::get(&mut conn, &id).await {
        Ok(run) => Ok(Json(run)),
        Err(CrmError::NotFound(what)) => Err(ApiError::not_found(format!("Not found: {what}"))),
        Err(e) => Err(e.into()),
    }
}

/// Every role.
#[derive(Serialize, ToSchema)]
pub struct RoleList {
    /// By id; role 1 is every role-less user's.
    roles: Vec<Role>,
}

/// `GET /api/v1/roles`: the access-permission roles.
#[utoipa::path(get, path = "/api/v1/roles", tag = "users", security(("admin_token" = [])),
    responses((status = 200, body = RoleList), (status = 403, body = ErrorBody)))]
pub async fn list_roles(State(app): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    Ok(Json(RoleList {
        roles: permissions::roles(&mut conn).await?,
    }))
}

/// `POST /api/v1/roles {"name", "permissions": {"deal": {"read": "all", "update": "own",
/// "automation": "read"}, ...}}`: adds a role.
#[utoipa::path(post, path = "/api/v1/roles", tag = "users", security(("admin_token" = [])), request_body = NewRole,
    responses((status = 201, body = Role), (status = 400, description = "A taken name, an unknown entity type or level", body = ErrorBody)))]
pub async fn add_role(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let new: NewRole = json_body(&body?)?;
    let mut tx = app.store.write().await?;
    let role = permissions::add_role(&mut tx, &new, app.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(role)))
}

/// `PUT /api/v1/roles/{id}`: renames a role and replaces its permissions.
#[utoipa::path(put, path = "/api/v1/roles/{id}", tag = "users", security(("admin_token" = [])),
    params(("id" = i64, Path, description = "The role")), request_body = NewRole,
    responses((status = 200, body = Role), (status = 400, body = ErrorBody)))]
pub async fn update_role(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let new: NewRole = json_body(&body?)?;
    let mut tx = app.store.write().await?;
    let role = permissions::update_role(&mut tx, id, &new).await?;
    tx.commit().await?;
    Ok(Json(role))
}

/// `DELETE /api/v1/roles/{id}`: its users keep their other roles.
#[utoipa::path(delete, path = "/api/v1/roles/{id}", tag = "users", security(("admin_token" = [])),
    params(("id" = i64, Path, description = "The role")),
    responses((status = 204, description = "Deleted"), (status = 400, description = "Role 1", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_role(State(app): State<AppState>, Path(id): Path<String>) -> Result<impl IntoResponse, ApiError> {
    delete_by_id(&app, "role", &id, |tx, id| Box::pin(permissions::delete_role(tx, id))).await
}

/// A user's roles.
#[derive(serde::Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRoles {
    /// Role ids; none means role 1.
    role_ids: Vec<i64>,
}

/// `GET /api/v1/users/{id}/roles`.
#[utoipa::path(get, path = "/api/v1/users/{id}/roles", tag = "users", security(("admin_token" = [])),
    params(("id" = i64, Path, description = "The user")),
    responses((status = 200, body = UserRoles), (status = 400, body = ErrorBody)))]
pub async fn roles_of(State(app): State<AppState>, Path(id): Path<i64>) -> Result<impl IntoResponse, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    directory::user(&mut conn, id).await?;
    Ok(Json(UserRoles {
        role_ids: permissions::roles_of(&mut conn, id).await?,
    }))
}

/// `PUT /api/v1/users/{id}/roles {"role_ids": [2, 3]}`: gives a user exactly these roles.
#[utoipa::path(put, path = "/api/v1/users/{id}/roles", tag = "users", security(("admin_token" = [])),
    params(("id" = i64, Path, description = "The user")), request_body = UserRoles,
    responses((status = 200, body = UserRoles), (status = 400, body = ErrorBody)))]
pub async fn set_roles_of(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let asked: UserRoles = json_body(&body?)?;
    let mut tx = app.store.write().await?;
    let role_ids = permissions::set_roles_of(&mut tx, id, &asked.role_ids).await?;
    tx.commit().await?;
    Ok(Json(UserRoles { role_ids }))
}

/// A new password.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    /// At least 8 characters.
    password: String,
}

/// `PUT /api/v1/users/{id}/password {"password": "..."}`: sets or resets the password a user
/// signs in to the board with (stored as an argon2 hash).
#[utoipa::path(put, path = "/api/v1/users/{id}/password", tag = "users", security(("admin_token" = [])),
    params(("id" = i64, Path, description = "The user")), request_body = NewPassword,
    responses((status = 204, description = "Set"), (status = 400, description = "Too short, or no such user", body = ErrorBody)))]
pub async fn set_password(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let new: NewPassword = json_body(&body?)?;
    let mut tx = app.store.write().await?;
    sessions::set_password(&mut tx, id, &new.password).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Which outbox messages to list.
#[derive(serde::Deserialize, Default, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxFilter {
    /// queued, sending, sent or failed.
    status: Option<String>,
    /// Messages of this run.
    run_id: Option<String>,
    /// `email` or `sms`; both when absent.
    channel: Option<String>,
    /// At most this many (default 50, at most 500).
    limit: Option<i64>,
}

/// `GET /api/v1/outbox?status=failed&run_id=run_...&channel=sms&limit=50`: robots' email and text
/// messages, newest first, with their delivery state (queued, sending, sent, failed), attempts and
/// the last error (the SMTP server's, or the SMS gateway's).
#[utoipa::path(get, path = "/api/v1/outbox", tag = "runs", security(("admin_token" = [])), params(OutboxFilter),
    responses((status = 200, body = OutboxList), (status = 400, body = ErrorBody)))]
pub async fn outbox(State(app): State<AppState>, RawQuery(raw): RawQuery) -> Result<impl IntoResponse, ApiError> {
    let filter: OutboxFilter = query(raw.as_deref())?;
    let limit = filter.limit.unwrap_or(50).clamp(1, 500);
    let mut conn = app.store.pool().acquire().await?;
    let messages = outbox::list(
        &mut conn,
        filter.status.as_deref(),
        filter.run_id.as_deref(),
        filter.channel.as_deref(),
        limit,
    )
    .await?;
    Ok(Json(OutboxList { messages }))
}

/// One item, named in a query string.
#[derive(serde::Deserialize, Default, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ItemQuery {
    /// "deal", "lead", "dynamic_128", ...
    entity_type: String,
    /// The item's id.
    item_id: i64,
}

/// `GET /api/v1/timeline?entity_type=deal&item_id=12`: what happened to an item, oldest first:
/// its events (created, fields and stage changed, comments, completed activities and tasks,
/// triggers fired) and its robots' runs (at the time they finished, or are due).
#[utoipa::path(get, path = "/api/v1/timeline", tag = "runs", security(("admin_token" = [])), params(ItemQuery),
    responses((status = 200, body = Timeline), (status = 400, body = ErrorBody)))]
pub async fn timeline(State(app): State<AppState>, RawQuery(raw): RawQuery) -> Result<impl IntoResponse, ApiError> {
    let item: ItemQuery = query(raw.as_deref())?;
    let item_ref = ItemRef {
        entity_type: EntityType::parse(&item.entity_type)?,
        id: item.item_id,
    };
    let mut conn = app.store.pool().acquire().await?;
    let entries = timeline::of(&mut conn, item_ref)
        .await?
        .into_iter()
        .map(|entry| {
            let at = entry.at();
            match entry {
                timeline::Entry::Event(e) => json!({"at": at, "kind": e.kind, "payload": e.payload}),
                timeline::Entry::Run(run) => json!({"at": at, "kind": "robot_run", "run": run}),
            }
        })
        .collect();
    Ok(Json(Timeline { entries }))
}

/// What to simulate.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulationRequest {
    /// The item's entity type.
    entity_type: String,
    /// The item.
    item_id: i64,
    /// The stage it would enter.
    stage_id: String,
    /// When (ms since the epoch); now when left out.
    at: Option<Millis>,
}

/// What a simulated stage entry would do.
#[derive(Serialize, ToSchema)]
pub struct Simulation {
    /// The moment simulated.
    at: Millis,
    /// Per robot: `robot_id`, `name`, `plugin_id`, `due_at` or `due_error`, `condition_holds`
    /// (and `condition_error`), `config` resolved or `config_error`.
    #[schema(value_type = Vec<Object>)]
    runs: Vec<Value>,
}

/// `POST /api/v1/simulate {"entity_type", "item_id", "stage_id", "at"?}`: which robots would
/// run if the item entered the stage at `at` (now when left out), when, whether their
/// conditions hold and with which config. Nothing is written.
#[utoipa::path(post, path = "/api/v1/simulate", tag = "robots", security(("admin_token" = [])), request_body = SimulationRequest,
    responses((status = 200, body = Simulation), (status = 400, body = ErrorBody)))]
pub async fn simulate(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let asked: SimulationRequest = json_body(&body?)?;
    let item_ref = ItemRef {
        entity_type: EntityType::parse(&asked.entity_type)?,
        id: asked.item_id,
    };
    caller.access.check_automation(item_ref.entity_type, RuleAccess::Read)?;
    {
        let mut conn = app.store.pool().acquire().await?;
        let item = crate::crm::get(&mut conn, item_ref).await?;
        caller.access.check_stored(&item, permissions::ItemAction::Read)?;
    }
    let at = asked.at.unwrap_or_else(|| app.clock.now());
    let runs = rules::simulate(app.store.pool(), item_ref, &asked.stage_id, at).await?;
    let runs: Vec<Value> = runs
        .into_iter()
        .map(|run| {
            let mut out = json!({"robot_id": run.robot_id, "name": run.name, "plugin_id": run.plugin_id});
            match run.due_at {
                Ok(due) => out["due_at"] = Value::from(due),
                Err(why) => out["due_error"] = Value::from(why),
            }
            out["condition_holds"] = Value::from(run.condition.is_ok());
            if let Err(why) = run.condition {
                out["condition_error"] = Value::from(why);
            }
            match run.config {
                Ok(config) => out["config"] = config,
                Err(why) => out["config_error"] = Value::from(why),
            }
            out
        })
        .collect();
    Ok(Json(Simulation { at, runs }))
}

/// `POST /api/v1/runs/{id}/retry`: puts a failed run back in line, to run with the plugin
/// version installed now.
#[utoipa::path(post, path = "/api/v1/runs/{id}/retry", tag = "runs", security(("admin_token" = [])),
    params(("id" = String, Path, description = "A failed run")),
    responses((status = 200, body = RunRecord), (status = 400, description = "No such failed run", body = ErrorBody)))]
pub async fn retry_run(State(app): State<AppState>, Path(id): Path<String>) -> Result<impl IntoResponse, ApiError> {
    let mut tx = app.store.write().await?;
    let run = queue::retry(&mut tx, &id, app.clock.now()).await?;
    tx.commit().await?;
    app.scheduler.wake();
    Ok(Json(run))
}

/// `GET /api/v1/calendar`: the business-hours calendar working-time delays count in.
#[utoipa::path(get, path = "/api/v1/calendar", tag = "robots", security(("admin_token" = [])),
    responses((status = 200, body = Calendar), (status = 401, body = ErrorBody)))]
pub async fn get_calendar(State(app): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    Ok(Json(calendar::load(&mut conn).await?))
}

/// `PUT /api/v1/calendar {"work_days": [1,2,3,4,5], "start": "09:00", "end": "18:00",
/// "utc_offset_minutes": 0}`: sets it; runs already scheduled keep their due time.
#[utoipa::path(put, path = "/api/v1/calendar", tag = "robots", security(("admin_token" = [])), request_body = Calendar,
    responses((status = 200, body = Calendar), (status = 400, body = ErrorBody)))]
pub async fn put_calendar(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let calendar: Calendar = json_body(&body?)?;
    let mut tx = app.store.write().await?;
    calendar::save(&mut tx, &calendar).await?;
    tx.commit().await?;
    Ok(Json(calendar))
}

/// `GET /api/v1/repeat-sales`: the repeat-sales mode, whether new leads and deals are marked as
/// repeat ones.
#[utoipa::path(get, path = "/api/v1/repeat-sales", tag = "repeat sales", security(("admin_token" = [])),
    responses((status = 200, body = RepeatSales), (status = 401, body = ErrorBody)))]
pub async fn get_repeat_sales(State(app): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    Ok(Json(repeat_sales::load(&mut conn).await?))
}

/// `PUT /api/v1/repeat-sales {"enabled": false}`: sets the mode for leads and deals created from
/// now on; those already marked keep their flags.
#[utoipa::path(put, path = "/api/v1/repeat-sales", tag = "repeat sales", security(("admin_token" = [])),
    request_body = RepeatSales,
    responses((status = 200, body = RepeatSales), (status = 400, body = ErrorBody)))]
pub async fn put_repeat_sales(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let mode: RepeatSales = json_body(&body?)?;
    let mut tx = app.store.write().await?;
    repeat_sales::save(&mut tx, &mode).await?;
    tx.commit().await?;
    Ok(Json(mode))
}

/// A pipeline and a period, named in a query string.
#[derive(serde::Deserialize, Default, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// "deal", "lead", "dynamic_128", ...
    entity_type: String,
    /// The pipeline; the default one (0) when left out.
    #[serde(default)]
    category_id: i64,
    /// The period's start, ISO 8601 ("2026-11-01T00:00:00Z").
    from: String,
    /// The period's end, not included.
    to: String,
}

/// `GET /api/v1/reports/pipeline?entity_type=deal&category_id=0&from=…&to=…`: items per stage,
/// won and lost, conversion by responsible person and the share of repeat deals in the period.
#[utoipa::path(get, path = "/api/v1/reports/pipeline", tag = "repeat sales", security(("admin_token" = [])),
    params(ReportQuery),
    responses((status = 200, body = PipelineReport), (status = 400, description = "A bad period, or no such pipeline", body = ErrorBody)))]
pub async fn pipeline_report(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let asked: ReportQuery = query(raw.as_deref())?;
    let time = |name: &str, text: &str| {
        parse_datetime(text)
            .ok_or_else(|| ApiError::invalid(format!("{name} '{text}' is not an ISO 8601 date and time")))
    };
    let period = Period {
        entity_type: EntityType::parse(&asked.entity_type)?,
        category_id: asked.category_id,
        from: time("from", &asked.from)?,
        to: time("to", &asked.to)?,
    };
    let mut conn = app.store.pool().acquire().await?;
    Ok(Json(pipeline_report::report(&mut conn, period).await?))
}

/// How far to move the manual clock.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Advance {
    /// Milliseconds, at most [`MAX_CLOCK_ADVANCE_MS`] (a century): enough to pass any robot's
    /// delay in one move.
    ms: u64,
}

/// The longest move of the manual clock in one call: a bound keeps the clock, and every moment a
/// delay computes from it, far from the end of its range.
pub const MAX_CLOCK_ADVANCE_MS: u64 = 100 * 366 * 24 * 60 * 60 * 1000;

/// The clock's time after a move.
#[derive(Serialize, ToSchema)]
pub struct ClockNow {
    /// Milliseconds since the epoch.
    now_ms: Millis,
}

/// `POST /api/v1/clock/advance` with `{"ms": N}`: moves a manual clock forward and wakes the
/// scheduler, so delayed robots come due without waiting. Refused on the system clock.
#[utoipa::path(post, path = "/api/v1/clock/advance", tag = "robots", security(("admin_token" = [])), request_body = Advance,
    responses((status = 200, body = ClockNow), (status = 409, description = "The server runs on the system clock", body = ErrorBody)))]
pub async fn advance_clock(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let advance: Advance = json_body(&body?)?;
    let by = match i64::try_from(advance.ms) {
        Ok(by) if advance.ms <= MAX_CLOCK_ADVANCE_MS => by,
        _ => {
            return Err(ApiError::invalid(format!(
                "ms must be at most {MAX_CLOCK_ADVANCE_MS} (a century)"
            )));
        }
    };
    let now = app.clock.advance(by).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "CLOCK_NOT_MANUAL",
            "the server runs on the system clock; start it with --manual-clock",
        )
    })?;
    app.scheduler.wake();
    Ok(Json(ClockNow { now_ms: now }))
}

/// The repeat-lead exception list.
#[derive(Serialize, ToSchema)]
pub struct ExceptionList {
    /// Oldest first.
    exceptions: Vec<Exception>,
}

/// What `POST /api/v1/exceptions` takes.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewException {
    /// phone or email.
    kind: Kind,
    /// The phone number or email address, in any spelling the PHONE and EMAIL fields take; it is
    /// stored as matching compares it.
    value: String,
    /// Why it is on the list.
    #[serde(default)]
    comment: String,
}

/// `GET /api/v1/exceptions`: the phones and emails that never make a lead a repeat lead, with
/// who added each (an admin, or a robot run and its item) and when.
#[utoipa::path(get, path = "/api/v1/exceptions", tag = "exceptions", security(("admin_token" = [])),
    responses((status = 200, body = ExceptionList), (status = 401, body = ErrorBody)))]
pub async fn list_exceptions(State(app): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    let exceptions = repeat::list(&mut conn).await?;
    Ok(Json(ExceptionList { exceptions }))
}

/// `POST /api/v1/exceptions {"kind": "phone", "value": "+1 555 0100", "comment": "switchboard"}`:
/// puts a value on the list (201); a value already there is answered as it is (200).
#[utoipa::path(post, path = "/api/v1/exceptions", tag = "exceptions", security(("admin_token" = [])), request_body = NewException,
    responses((status = 201, description = "Added", body = Exception), (status = 200, description = "Already on the list", body = Exception),
        (status = 400, description = "An unknown kind or field, an empty or malformed value", body = ErrorBody)))]
pub async fn add_exception(
    State(app): State<AppState>,
    Extension(admin): Extension<Admin>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let user = admin.user_id;
    let new: NewException = json_body(&body?)?;
    let value = repeat::comparable_value(new.kind, &new.value)?;
    let mut tx = app.store.write().await?;
    let added = repeat::add(
        &mut tx,
        &NewExceptions {
            values: vec![(new.kind, value.clone())],
            comment: new.comment,
            added_by: user,
            run_id: None,
            item: None,
        },
        app.clock.now(),
    )
    .await?;
    let answer = match added.into_iter().next() {
        Some(exception) => (StatusCode::CREATED, exception),
        None => {
            let existing = repeat::find(&mut tx, new.kind, &value).await?;
            (
                StatusCode::OK,
                existing.ok_or_else(|| ApiError::not_found(format!("exception {value}")))?,
            )
        }
    };
    tx.commit().await?;
    Ok((answer.0, Json(answer.1)))
}

/// `DELETE /api/v1/exceptions/{id}`: takes a value off the list; leads created from then on with
/// it can be repeat leads again (existing leads keep their mark).
#[utoipa::path(delete, path = "/api/v1/exceptions/{id}", tag = "exceptions", security(("admin_token" = [])),
    params(("id" = i64, Path, description = "The entry")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such entry", body = ErrorBody)))]
pub async fn delete_exception(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    delete_by_id(&app, "exception", &id, |tx, id| Box::pin(repeat::delete(tx, id))).await
}

/// The repeat-deal rules and reactivation policies.
#[derive(Serialize, ToSchema)]
pub struct ReturnRuleList {
    /// Oldest first.
    rules: Vec<ReturnRule>,
}

/// `GET /api/v1/return-rules`: every repeat-deal rule and reactivation policy.
#[utoipa::path(get, path = "/api/v1/return-rules", tag = "repeat sales", security(("admin_token" = [])),
    responses((status = 200, body = ReturnRuleList), (status = 401, body = ErrorBody)))]
pub async fn list_return_rules(State(app): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    Ok(Json(ReturnRuleList {
        rules: returns::rules(&mut conn).await?,
    }))
}

/// `POST /api/v1/return-rules {"kind": "reactivation", "entity_type": "deal", "stage_id": "LOSE",
/// "after_days": 30, "mode": "copy", ...}`: adds a rule (201); items entering its stage from now
/// on come back.
#[utoipa::path(post, path = "/api/v1/return-rules", tag = "repeat sales", security(("admin_token" = [])), request_body = ReturnRule,
    responses((status = 201, body = ReturnRule), (status = 400, description = "An unknown field, stage or user; a stage of the wrong kind", body = ErrorBody)))]
pub async fn add_return_rule(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let rule: ReturnRule = json_body(&body?)?;
    let mut tx = app.store.write().await?;
    let added = returns::add_rule(&mut tx, rule, app.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(added)))
}

/// `PUT /api/v1/return-rules/{id}`: replaces a rule's settings. Its pending returns keep their
/// due times; moved to another stage, the rule drops them.
#[utoipa::path(put, path = "/api/v1/return-rules/{id}", tag = "repeat sales", security(("admin_token" = [])),
    params(("id" = i64, Path, description = "The rule")), request_body = ReturnRule,
    responses((status = 200, body = ReturnRule), (status = 400, body = ErrorBody), (status = 404, description = "No such rule", body = ErrorBody)))]
pub async fn put_return_rule(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let rule: ReturnRule = json_body(&body?)?;
    let missing = || ApiError::not_found(format!("return rule {id} does not exist"));
    let number: i64 = id.parse().map_err(|_| missing())?;
    let mut tx = app.store.write().await?;
    let replaced = returns::replace_rule(&mut tx, number, rule, app.clock.now())
        .await?
        .ok_or_else(missing)?;
    tx.commit().await?;
    Ok(Json(replaced))
}

/// `DELETE /api/v1/return-rules/{id}`: deletes a rule and the returns it has pending.
#[utoipa::path(delete, path = "/api/v1/return-rules/{id}", tag = "repeat sales", security(("admin_token" = [])),
    params(("id" = i64, Path, description = "The rule")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such rule", body = ErrorBody)))]
pub async fn delete_return_rule(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    delete_by_id(&app, "return rule", &id, |tx, id| {
        Box::pin(returns::delete_rule(tx, id))
    })
    .await
}

/// Which item's returns, named in a query string; every item's when left out.
#[derive(serde::Deserialize, Default, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReturnsQuery {
    /// "deal" or "lead".
    entity_type: Option<String>,
    /// The item's id.
    item_id: Option<i64>,
}

/// The returns scheduled, done and dropped.
#[derive(Serialize, ToSchema)]
pub struct ReturnList {
    /// Newest first, at most 500.
    returns: Vec<Return>,
}

/// `GET /api/v1/returns?entity_type=deal&item_id=12`: an item's returns (or every item's): when
/// each is due, and what came of it.
#[utoipa::path(get, path = "/api/v1/returns", tag = "repeat sales", security(("admin_token" = [])), params(ReturnsQuery),
    responses((status = 200, body = ReturnList), (status = 400, body = ErrorBody)))]
pub async fn list_returns(State(app): State<AppState>, RawQuery(raw): RawQuery) -> Result<impl IntoResponse, ApiError> {
    let asked: ReturnsQuery = query(raw.as_deref())?;
    let item = match (asked.entity_type, asked.item_id) {
        (Some(entity_type), Some(id)) => Some(ItemRef {
            entity_type: EntityType::parse(&entity_type)?,
            id,
        }),
        (None, None) => None,
        _ => return Err(ApiError::invalid("give entity_type and item_id together")),
    };
    let mut conn = app.store.pool().acquire().await?;
    Ok(Json(ReturnList {
        returns: returns::list(&mut conn, item).await?,
    }))
}

/// The repeat-sales segments.
#[derive(Serialize, ToSchema)]
pub struct SegmentList {
    /// In the order the daily job runs them.
    segments: Vec<Segment>,
}

/// `GET /api/v1/repeat-sales/segments`: every repeat-sales segment.
#[utoipa::path(get, path = "/api/v1/repeat-sales/segments", tag = "repeat sales", security(("admin_token" = [])),
    responses((status = 200, body = SegmentList), (status = 401, body = ErrorBody)))]
pub async fn list_segments(State(app): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    Ok(Json(SegmentList {
        segments: segments::list(&mut conn).await?,
    }))
}

/// `POST /api/v1/repeat-sales/segments {"name": "Bought a year ago", "kind": "won_ago", "days":
/// 365, "window_days": 14, "category_id": 3}`: adds a segment (201); the next daily run uses it.
#[utoipa::path(post, path = "/api/v1/repeat-sales/segments", tag = "repeat sales", security(("admin_token" = [])),
    request_body = Segment,
    responses((status = 201, body = Segment), (status = 400, description = "An unknown pipeline, stage or field; a closed stage", body = ErrorBody)))]
pub async fn add_segment(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let segment: Segment = json_body(&body?)?;
    let mut tx = app.store.write().await?;
    let added = segments::add(&mut tx, segment, app.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(added)))
}

/// `PUT /api/v1/repeat-sales/segments/{id}`: replaces a segment's settings (to turn it off, say).
#[utoipa::path(put, path = "/api/v1/repeat-sales/segments/{id}", tag = "repeat sales", security(("admin_token" = [])),
    params(("id" = i64, Path, description = "The segment")), request_body = Segment,
    responses((status = 200, body = Segment), (status = 400, body = ErrorBody), (status = 404, description = "No such segment", body = ErrorBody)))]
pub async fn put_segment(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let segment: Segment = json_body(&body?)?;
    let missing = || ApiError::not_found(format!("segment {id} does not exist"));
    let number: i64 = id.parse().map_err(|_| missing())?;
    let mut tx = app.store.write().await?;
    let replaced = segments::replace(&mut tx, number, segment).await?.ok_or_else(missing)?;
    tx.commit().await?;
    Ok(Json(replaced))
}

/// `DELETE /api/v1/repeat-sales/segments/{id}`: deletes a segment; the deals it made stay.
#[utoipa::path(delete, path = "/api/v1/repeat-sales/segments/{id}", tag = "repeat sales", security(("admin_token" = [])),
    params(("id" = i64, Path, description = "The segment")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such segment", body = ErrorBody)))]
pub async fn delete_segment(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    delete_by_id(&app, "segment", &id, |tx, id| Box::pin(segments::delete(tx, id))).await
}

/// The daily segment job's runs.
#[derive(Serialize, ToSchema)]
pub struct SegmentRunList {
    /// Newest first, the last 60.
    runs: Vec<SegmentRun>,
}

/// `GET /api/v1/repeat-sales/segment-runs`: when the daily job ran and how many deals it made.
#[utoipa::path(get, path = "/api/v1/repeat-sales/segment-runs", tag = "repeat sales", security(("admin_token" = [])),
    responses((status = 200, body = SegmentRunList), (status = 401, body = ErrorBody)))]
pub async fn list_segment_runs(State(app): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    Ok(Json(SegmentRunList {
        runs: segments::runs(&mut conn).await?,
    }))
}

/// A deletion under way: whether the record existed.
type Deleting<'t> = std::pin::Pin<Box<dyn Future<Output = Result<bool, CrmError>> + Send + 't>>;

/// Deletes the record a path names with `delete` (204), or answers 404 when no record has that
/// id, text that is no id at all included.
async fn delete_by_id(
    app: &AppState,
    what: &str,
    id: &str,
    delete: impl for<'t> FnOnce(&'t mut Tx, i64) -> Deleting<'t>,
) -> Result<StatusCode, ApiError> {
    let mut tx = app.store.write().await?;
    let deleted = match id.parse() {
        Ok(id) => delete(&mut tx, id).await?,
        Err(_) => false,
    };
    if !deleted {
        return Err(ApiError::not_found(format!("{what} {id} does not exist")));
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Absences from the directory's calendar.
#[derive(Serialize, ToSchema)]
pub struct AbsenceList {
    /// By start.
    absences: Vec<Absence>,
}

/// Which absences to list.
#[derive(serde::Deserialize, Default, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AbsenceFilter {
    /// Only this user's.
    user_id: Option<i64>,
    /// Only those covering this moment (ms since the epoch).
    at: Option<Millis>,
}

/// What `POST /api/v1/absences` takes.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AbsenceRequest {
    /// Who is away: an existing user.
    user_id: i64,
    /// From when (ms since the epoch).
    from: Millis,
    /// Until when, not included (ms since the epoch); after `from`.
    to: Millis,
    /// vacation, sick_leave, business_trip or other.
    kind: AbsenceKind,
    /// A note.
    #[serde(default)]
    comment: String,
}

/// `GET /api/v1/absences?user_id=2&at=1767225600000`: the absence calendar, by start; `at` keeps
/// the absences covering that moment ("who is away then").
#[utoipa::path(get, path = "/api/v1/absences", tag = "absences", security(("admin_token" = [])), params(AbsenceFilter),
    responses((status = 200, body = AbsenceList), (status = 400, body = ErrorBody)))]
pub async fn list_absences(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let filter: AbsenceFilter = query(raw.as_deref())?;
    let mut conn = app.store.pool().acquire().await?;
    let absences = directory::absences(&mut conn, filter.user_id, filter.at).await?;
    Ok(Json(AbsenceList { absences }))
}

/// `POST /api/v1/absences {"user_id": 2, "from": ms, "to": ms, "kind": "vacation", "comment": ""}`:
/// enters an absence; robots that skip absent users pass over the user from `from` until `to`.
#[utoipa::path(post, path = "/api/v1/absences", tag = "absences", security(("admin_token" = [])), request_body = AbsenceRequest,
    responses((status = 201, body = Absence), (status = 400, description = "An unknown user, kind or field, or an end not after the start", body = ErrorBody)))]
pub async fn add_absence(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let asked: AbsenceRequest = json_body(&body?)?;
    let new = NewAbsence {
        user_id: asked.user_id,
        from: asked.from,
        to: asked.to,
        kind: asked.kind,
        comment: asked.comment,
    };
    let mut tx = app.store.write().await?;
    let absence = directory::add_absence(&mut tx, &new, app.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(absence)))
}

/// `DELETE /api/v1/absences/{id}`: takes an absence off the calendar.
#[utoipa::path(delete, path = "/api/v1/absences/{id}", tag = "absences", security(("admin_token" = [])),
    params(("id" = i64, Path, description = "The absence")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such absence", body = ErrorBody)))]
pub async fn delete_absence(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    delete_by_id(&app, "absence", &id, |tx, id| {
        Box::pin(directory::delete_absence(tx, id))
    })
    .await
}
