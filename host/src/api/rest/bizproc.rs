//! `bizproc.robot.*` and `bizproc.event.send`: Bitrix24 apps register their own robots and
//! answer their runs ([`crate::apps`]). Registering, changing and removing a robot is for
//! administrators, as in Bitrix24; any caller with the `bizproc` scope may send an event, since
//! the event token is what proves the app got the run.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::directory::require_admin;
use super::{Answer, AppState, commit_and_wake, unknown_method};
use crate::api::{ApiError, params};
use crate::apps::{self, AppError, Registration};

/// Answers one `bizproc.*` call.
pub(super) async fn dispatch(
    app: &AppState,
    user: i64,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Answer, ApiError> {
    let now = app.clock.now();
    match method {
        "bizproc.robot.add" => {
            require_admin(app, user).await?;
            let registration = Registration::from_params(p, user)?;
            let mut tx = app.store.write().await?;
            apps::add(&mut tx, &registration, user, now).await?;
            tx.commit().await?;
            app.runtime.register_app(registration);
            Ok(json!(true).into())
        }
        "bizproc.robot.update" => {
            require_admin(app, user).await?;
            let code = code(p)?;
            let mut tx = app.store.write().await?;
            let changed = apps::update(&mut tx, &code, &params::object(p, "FIELDS")?, now).await?;
            tx.commit().await?;
            app.runtime.register_app(changed);
            Ok(json!(true).into())
        }
        "bizproc.robot.delete" => {
            require_admin(app, user).await?;
            let code = code(p)?;
            let mut tx = app.store.write().await?;
            apps::delete(&mut tx, &code).await?;
            tx.commit().await?;
            app.runtime.unregister_app(&code);
            Ok(json!(true).into())
        }
        "bizproc.robot.list" => {
            require_admin(app, user).await?;
            let mut conn = app.store.pool().acquire().await?;
            let codes: Vec<Value> = apps::all(&mut conn).await?.into_iter().map(|r| json!(r.code)).collect();
            Ok(Answer {
                total: Some(codes.len() as i64),
                result: Value::Array(codes),
                next: None,
            })
        }
        "bizproc.event.send" => {
            let token = params::optional_str(p, "EVENT_TOKEN")?
                .filter(|t| !t.is_empty())
                .ok_or_else(|| ApiError::invalid("EVENT_TOKEN is not defined or invalid."))?;
            let values = params::object(p, "RETURN_VALUES")?;
            let log_message = params::optional_str(p, "LOG_MESSAGE")?.filter(|m| !m.is_empty());
            let mut tx = app.store.write().await?;
            apps::answer(&mut tx, &token, &values, log_message, now).await?;
            commit_and_wake(app, tx, true).await?;
            Ok(json!(true).into())
        }
        _ => Err(unknown_method()),
    }
}

fn code(p: &Map<String, Value>) -> Result<String, ApiError> {
    params::optional_str(p, "CODE")?
        .filter(|c| !c.is_empty())
        .ok_or_else(|| AppError::Invalid("Empty activity code!".into()).into())
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let description = e.to_string();
        match e {
            AppError::Invalid(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "ERROR_ACTIVITY_VALIDATION_FAILURE",
                description,
            ),
            AppError::UnsupportedProtocol => {
                ApiError::new(StatusCode::BAD_REQUEST, "ERROR_UNSUPPORTED_PROTOCOL", description)
            }
            AppError::WrongHandler => ApiError::new(StatusCode::BAD_REQUEST, "ERROR_WRONG_HANDLER_URL", description),
            AppError::AlreadyInstalled => {
                ApiError::new(StatusCode::BAD_REQUEST, "ERROR_ACTIVITY_ALREADY_INSTALLED", description)
            }
            AppError::NotFound => ApiError::new(StatusCode::BAD_REQUEST, "ERROR_ACTIVITY_NOT_FOUND", description),
            AppError::BadToken(_) => ApiError::new(StatusCode::FORBIDDEN, "ACCESS_DENIED", description),
            AppError::Crm(e) => e.into(),
        }
    }
}
