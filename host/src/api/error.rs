//! The one error shape every endpoint answers with: Bitrix24's `{error, error_description}`.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::model::CrmError;
use crate::permissions::Denied;
use crate::runtime::PluginError;
use crate::store::StoreError;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    description: String,
}

impl ApiError {
    /// An error with an explicit status and code.
    pub fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            code,
            description: description.into(),
        }
    }

    /// A request whose arguments are wrong.
    pub fn invalid(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_ARG_VALUE", description)
    }

    /// A body that is not the JSON the endpoint takes.
    pub fn bad_json(e: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            format!("malformed request body: {e}"),
        )
    }

    /// An admin API record (by its id in the path) that does not exist.
    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", description)
    }

    /// Missing or wrong credentials.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_CREDENTIALS",
            "Invalid request credentials",
        )
    }

    /// Credentials that are right but do not allow this.
    pub fn forbidden(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "ACCESS_DENIED", description)
    }

    /// A change sent through a board session without the session's CSRF token.
    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "CSRF_TOKEN_MISSING",
            "This change needs the X-CSRF-Token header of the signed-in session",
        )
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "Internal server error",
        )
    }
}

/// What every error answer carries, in Bitrix24's shape.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable code: INVALID_ARG_VALUE, NOT_FOUND, INVALID_CREDENTIALS, ...
    pub error: String,
    /// What went wrong, for people.
    pub error_description: String,
}

impl ApiError {
    /// The JSON body, also used for one command's error inside a `batch` answer.
    pub fn body(&self) -> serde_json::Value {
        let body = ErrorBody {
            error: self.code.to_string(),
            error_description: self.description.clone(),
        };
        serde_json::to_value(body).expect("an error body serializes")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// A body that could not be read: over the size limit, or cut off.
impl From<BytesRejection> for ApiError {
    fn from(e: BytesRejection) -> Self {
        match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "REQUEST_TOO_LARGE", e.body_text())
            }
            status => Self::new(status, "INVALID_REQUEST", e.body_text()),
        }
    }
}

impl From<CrmError> for ApiError {
    fn from(e: CrmError) -> Self {
        match e {
            CrmError::NotFound(what) => Self::new(StatusCode::BAD_REQUEST, "NOT_FOUND", format!("Not found: {what}")),
            CrmError::Invalid(why) => Self::invalid(why),
            CrmError::Store(e) => Self::internal(e),
        }
    }
}

impl From<Denied> for ApiError {
    fn from(e: Denied) -> Self {
        Self::forbidden(e.0)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::internal(e)
    }
}

impl From<PluginError> for ApiError {
    fn from(e: PluginError) -> Self {
        match e {
            PluginError::Store(e) => Self::internal(e),
            PluginError::Engine(e) => Self::internal(e),
            PluginError::VersionConflict { .. } => Self::new(StatusCode::CONFLICT, "VERSION_CONFLICT", e.to_string()),
            other => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_PLUGIN", other.to_string()),
        }
    }
}
