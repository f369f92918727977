//! The HTTP edge: the Bitrix24-style REST API under `/rest`, the admin API under `/api/v1`
//! (described by `/api/v1/openapi.json`), and the one place internal errors become HTTP answers.

mod admin;
mod config;
mod error;
mod health;
mod openapi;
mod params;
mod rest;
pub mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post, put};

pub use error::ApiError;

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::runtime::Runtime;
use crate::scheduler::Scheduler;
use crate::store::Store;

/// Largest REST request body (Bitrix24 batch calls included).
pub const MAX_REQUEST_BYTES: usize = 2 << 20;
/// Largest plugin component an admin may upload.
pub const MAX_PLUGIN_BYTES: usize = 32 << 20;
/// Largest configuration file an admin may import: a few plugins' components, in base64.
pub const MAX_CONFIG_BYTES: usize = 128 << 20;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Plugins and sandboxes.
    pub runtime: Arc<Runtime>,
    /// The scheduler, woken after writes that schedule runs.
    pub scheduler: Arc<Scheduler>,
    /// The host's clock.
    pub clock: Clock,
    /// What `/metrics` reports.
    pub metrics: Arc<Metrics>,
}

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let plugins = Router::new()
        .route("/api/v1/plugins", get(admin::list_plugins).post(admin::install_plugin))
        .route("/api/v1/plugins/inspect", post(admin::inspect_plugin))
        .layer(DefaultBodyLimit::max(MAX_PLUGIN_BYTES));
    let configuration = Router::new()
        .route("/api/v1/config", get(config::export))
        .route("/api/v1/config/import", post(config::import))
        .layer(DefaultBodyLimit::max(MAX_CONFIG_BYTES));
    // Automation rules: anyone signed in whose role allows it, per entity type (each handler
    // asks the caller's access).
    let automation = Router::new()
        .route("/api/v1/robots", get(admin::list_robots).post(admin::add_robot))
        .route("/api/v1/robots/reorder", post(admin::reorder_robots))
        .route(
            "/api/v1/robots/{id}",
            delete(admin::delete_robot).put(admin::update_robot),
        )
        .route("/api/v1/triggers", get(admin::list_triggers).post(admin::add_trigger))
        .route("/api/v1/triggers/{id}", delete(admin::delete_trigger))
        .route("/api/v1/simulate", post(admin::simulate));
    // Everything else is the administrators'.
    let administration = Router::new()
        .route("/api/v1/runs/{id}/retry", post(admin::retry_run))
        .route("/api/v1/timeline", get(admin::timeline))
        .route("/api/v1/runs", get(admin::list_runs))
        .route("/api/v1/runs/{id}", get(admin::get_run))
        .route("/api/v1/users/{id}/password", axum::routing::put(admin::set_password))
        .route(
            "/api/v1/users/{id}/roles",
            get(admin::roles_of).put(admin::set_roles_of),
        )
        .route("/api/v1/roles", get(admin::list_roles).post(admin::add_role))
        .route(
            "/api/v1/roles/{id}",
            axum::routing::put(admin::update_role).delete(admin::delete_role),
        )
        .route("/api/v1/outbox", get(admin::outbox))
        .route("/api/v1/webhooks", post(admin::create_webhook))
        .route(
            "/api/v1/exceptions",
            get(admin::list_exceptions).post(admin::add_exception),
        )
        .route("/api/v1/exceptions/{id}", delete(admin::delete_exception))
        .route("/api/v1/absences", get(admin::list_absences).post(admin::add_absence))
        .route("/api/v1/absences/{id}", delete(admin::delete_absence))
        .route("/api/v1/clock/advance", post(admin::advance_clock))
        .route("/api/v1/calendar", get(admin::get_calendar).put(admin::put_calendar))
        .route(
            "/api/v1/repeat-sales",
            get(admin::get_repeat_sales).put(admin::put_repeat_sales),
        )
        .route("/api/v1/reports/pipeline", get(admin::pipeline_report))
        .route(
            "/api/v1/return-rules",
            get(admin::list_return_rules).post(admin::add_return_rule),
        )
        .route(
            "/api/v1/return-rules/{id}",
            put(admin::put_return_rule).delete(admin::delete_return_rule),
        )
        .route("/api/v1/returns", get(admin::list_returns))
        .route(
            "/api/v1/repeat-sales/segments",
            get(admin::list_segments).post(admin::add_segment),
        )
        .route(
            "/api/v1/repeat-sales/segments/{id}",
            put(admin::put_segment).delete(admin::delete_segment),
        )
        .route("/api/v1/repeat-sales/segment-runs", get(admin::list_segment_runs))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .merge(plugins)
        .merge(configuration)
        .route_layer(axum::middleware::from_fn(admin::require_admin));
    let admin_api = automation
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .merge(administration)
        // Every admin API route, and only those, sits behind authentication: a route added
        // above cannot forget the check.
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), admin::authenticate));
    Router::new()
        .route("/rest/{user}/{token}/{method}", any(rest::call))
        .route("/rest/api/{user}/{token}/{method}", any(rest::call_v3))
        .route("/rest/{method}", post(rest::call_in_session))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .merge(admin_api)
        .merge(crate::board::router())
        .layer(axum::middleware::from_fn(run_to_completion))
        .layer(axum::middleware::from_fn_with_state(state.clone(), count_request))
        .with_state(state)
}

/// Counts every answered request in `/metrics`, by family, status class and time taken.
async fn count_request(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    app.metrics
        .http_request(&path, response.status().as_u16(), started.elapsed());
    response
}

/// Runs each request in a task of its own, so a client that hangs up mid-request cannot cancel a
/// database transaction halfway: sqlx leaves a SQLite connection whose `BEGIN` was cancelled
/// inside a transaction, and the one writer connection would then refuse every later write.
/// A request that started a change finishes it; only its answer goes unread.
async fn run_to_completion(request: Request, next: Next) -> Response {
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "request task failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
