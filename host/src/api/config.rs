//! `GET /api/v1/config` and `POST /api/v1/config/import`: the host's configuration as one file
//! (crate::config), for `stagewright config export` and `import`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use utoipa::IntoParams;

use super::error::ErrorBody;
use super::{ApiError, AppState};
use crate::config::{self, ConfigError, ConfigFile, ImportReport};

impl From<ConfigError> for ApiError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Crm(e) => e.into(),
            ConfigError::Plugin(e) => e.into(),
        }
    }
}

/// How to export.
#[derive(serde::Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Whether plugins not built in carry their component (base64), as a file for another server
    /// needs; true when left out.
    #[serde(default = "yes")]
    components: bool,
}

fn yes() -> bool {
    true
}

/// How to import.
#[derive(serde::Deserialize, Default, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Check the file and answer what the import would change, changing nothing.
    #[serde(default)]
    dry_run: bool,
}

fn query<T: serde::de::DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    serde_urlencoded::from_str(raw.unwrap_or_default()).map_err(|e| ApiError::invalid(format!("bad query string: {e}")))
}

/// `GET /api/v1/config`: smart processes, pipelines and stages, custom fields, plugins, robots,
/// triggers and settings as one document.
#[utoipa::path(get, path = "/api/v1/config", tag = "configuration", security(("admin_token" = [])), params(ExportQuery),
    responses((status = 200, body = ConfigFile), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn export(State(app): State<AppState>, RawQuery(raw): RawQuery) -> Result<impl IntoResponse, ApiError> {
    let asked: ExportQuery = query(raw.as_deref())?;
    let mut conn = app.store.pool().acquire().await?;
    Ok(Json(config::export(&mut conn, asked.components).await?))
}

/// `POST /api/v1/config/import` with a document from `GET /api/v1/config`: makes this host's
/// configuration what it says, in one transaction, and answers what changed. Robots and triggers
/// the file leaves out are deleted; nothing else is. A refused file changes nothing.
#[utoipa::path(post, path = "/api/v1/config/import", tag = "configuration", security(("admin_token" = [])),
    params(ImportQuery), request_body = ConfigFile,
    responses((status = 200, body = ImportReport), (status = 400, description = "A file that cannot be applied, naming the entry", body = ErrorBody),
        (status = 409, description = "A plugin version installed here with other code", body = ErrorBody),
        (status = 422, description = "A plugin component that does not install", body = ErrorBody)))]
pub async fn import(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let asked: ImportQuery = query(raw.as_deref())?;
    let file: ConfigFile = serde_json::from_slice(&body?).map_err(ApiError::bad_json)?;
    let report: ImportReport = config::import(&app.store, &app.runtime, &file, asked.dry_run, app.clock.now()).await?;
    Ok(Json(report))
}
