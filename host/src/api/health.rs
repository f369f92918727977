//! Probes for whoever runs the host (a load balancer, an orchestrator): `/healthz` says the
//! process answers, `/readyz` that it can serve requests now, `/metrics` how it is doing, for
//! Prometheus. None needs a token: they name no CRM data.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::store;

/// `GET /healthz`: the process is up and its HTTP server answers.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers (its migrations ran before the host began to listen) and
/// the host is not stopping; 503 with the reason otherwise.
pub async fn readyz(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    if app.scheduler.is_stopping() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "NOT_READY",
            "the host is stopping",
        ));
    }
    let answer: Result<i64, _> = store::query_scalar("SELECT 1").fetch_one(app.store.pool()).await;
    match answer {
        Ok(_) => Ok(Json(json!({"status": "ready"}))),
        Err(e) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "NOT_READY",
            format!("the database does not answer: {e}"),
        )),
    }
}

/// `GET /metrics`: every metric in Prometheus' text format (docs/metrics.md).
pub async fn metrics(State(app): State<AppState>) -> Result<impl axum::response::IntoResponse, ApiError> {
    let text = app.metrics.render(&app.store, app.clock.now()).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}
