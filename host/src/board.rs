//! The admin board: the browser UI at `/`, served by the same binary and port as the APIs.
//!
//! Pages are HTML rendered here with maud; the few scripts under `board/assets/` make them live
//! (dragging cards and robots, the generated settings forms, polling). Every change a page makes
//! goes through the public APIs themselves: the admin API under `/api/v1` and the REST methods
//! under `/rest/{method}`, authenticated by the board session (see `api::session`). So the board
//! adds no second implementation of any rule: what it may do, the API may do.

mod assets;
mod automation;
mod configuration;
mod item;
mod kanban;
mod layout;
mod pipelines;
mod plugins;
mod repeat_sales;
mod roles;
mod runs;
mod signin;
mod testmode;

use axum::Router;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::api::{ApiError, AppState, session};
use crate::directory;
use crate::permissions::Access;

/// The signed-in user a page is rendered for.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The user.
    pub user_id: i64,
    /// The name the header shows.
    pub name: String,
    /// Whether the user may change everything (and see the admin pages).
    pub is_admin: bool,
    /// What the user's roles allow; pages show what the API would let them do.
    pub access: Access,
    /// The session's CSRF token, which the page hands its scripts.
    pub csrf_token: String,
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    /// Nobody is signed in: go to the sign-in page.
    SignIn,
    /// Signed in, but this page is for administrators.
    Forbidden,
    /// What the API would answer.
    Api(ApiError),
}

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> Self {
        Self::Api(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn => Redirect::to("/login").into_response(),
            Self::Forbidden => ApiError::forbidden("Your role does not open this page").into_response(),
            Self::Api(e) => e.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let signed_in = session::signed_in(app, &parts.headers)
            .await?
            .ok_or(PageError::SignIn)?;
        let mut conn = app.store.pool().acquire().await.map_err(ApiError::from)?;
        let user = directory::user(&mut conn, signed_in.user_id).await?;
        let access = Access::of_user(&mut conn, &user, signed_in.is_admin).await?;
        Ok(Self {
            user_id: user.id,
            name: format!("{} {}", user.name, user.last_name).trim().to_string(),
            is_admin: access.is_admin,
            access,
            csrf_token: signed_in.csrf_token,
        })
    }
}

impl OptionalFromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Option<Self>, Self::Rejection> {
        match <Self as FromRequestParts<AppState>>::from_request_parts(parts, app).await {
            Ok(viewer) => Ok(Some(viewer)),
            Err(PageError::SignIn) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Viewer {
    /// Refuses a page meant for administrators.
    fn require_admin(&self) -> Result<(), PageError> {
        if self.is_admin {
            Ok(())
        } else {
            Err(PageError::Forbidden)
        }
    }
}

/// Every board page and asset.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(kanban::home))
        .route("/login", get(signin::form).post(signin::sign_in))
        .route("/logout", axum::routing::post(signin::sign_out))
        .route("/board/{entity}/{category}", get(kanban::page))
        .route("/board/{entity}/{category}/stage/{stage}", get(kanban::column_cards))
        .route("/board/{entity}/{category}/stamp", get(kanban::stamp))
        .route("/automation/{entity}/{category}", get(automation::page))
        .route("/plugins", get(plugins::page))
        .route("/runs", get(runs::list))
        .route("/runs/{id}", get(runs::detail))
        .route("/items/{entity}/{id}", get(item::page))
        .route("/test", get(testmode::page))
        .route("/roles", get(roles::page))
        .route("/repeat-sales", get(repeat_sales::page))
        .route("/configuration", get(configuration::page))
        .route("/assets/{file}", get(assets::serve))
}
