//! Signing in and out: with a directory user's email and password, or with an admin token.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use super::{PageError, Viewer};
use crate::api::{ApiError, AppState, session};
use crate::sessions::{self, SignInError};

/// What the sign-in form posts: email and password, or an admin token.
#[derive(Debug, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    token: String,
}

/// `GET /login`: the sign-in page (or the board, for someone already signed in).
pub async fn form(viewer: Option<Viewer>) -> Response {
    match viewer {
        Some(_) => Redirect::to("/").into_response(),
        None => sign_in_page(None).into_response(),
    }
}

/// `POST /login`: checks the credentials, opens a session and sets its cookie.
pub async fn sign_in(State(app): State<AppState>, Form(credentials): Form<Credentials>) -> Result<Response, PageError> {
    let checked = {
        let mut conn = app.store.pool().acquire().await.map_err(ApiError::from)?;
        if credentials.token.trim().is_empty() {
            sessions::check_password(&mut conn, &credentials.email, &credentials.password)
                .await
                .map(|user| (user, false))
        } else {
            sessions::check_admin_token(&mut conn, &credentials.token)
                .await
                .map(|user| (user, true))
        }
    };
    let (user_id, with_admin_token) = match checked {
        Ok(found) => found,
        Err(SignInError::WrongCredentials) => {
            let why = if credentials.token.trim().is_empty() {
                SignInError::WrongCredentials.to_string()
            } else {
                "That is not an admin token of this server.".to_string()
            };
            return Ok((StatusCode::UNAUTHORIZED, sign_in_page(Some(&why))).into_response());
        }
        Err(SignInError::Store(e)) => return Err(e.into()),
    };
    let mut tx = app.store.write().await?;
    let opened = sessions::open(&mut tx, user_id, with_admin_token, app.clock.now()).await?;
    tx.commit().await?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, session::set_cookie(&opened.secret)),
            (header::LOCATION, "/".to_string()),
        ],
    )
        .into_response())
}

/// What the sign-out form posts.
#[derive(Debug, Deserialize)]
pub struct SignOut {
    csrf_token: String,
}

/// `POST /logout`: ends the session (its CSRF token must come with the form).
pub async fn sign_out(
    State(app): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignOut>,
) -> Result<Response, PageError> {
    let signed_in = session::signed_in(&app, &headers).await?.ok_or(PageError::SignIn)?;
    if form.csrf_token != signed_in.csrf_token {
        return Err(ApiError::csrf().into());
    }
    if let Some(secret) = session::cookie_secret(&headers) {
        let mut tx = app.store.write().await?;
        sessions::close(&mut tx, secret).await?;
        tx.commit().await?;
    }
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, session::clear_cookie()),
            (header::LOCATION, "/login".to_string()),
        ],
    )
        .into_response())
}

fn sign_in_page(error: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (super::layout::head("Sign in", None))
            body.signin {
                main.signin-card {
                    h1 { "Stagewright" }
                    p.muted { "Sign in to manage pipelines and automation rules." }
                    @if let Some(error) = error {
                        p.error role="alert" { (error) }
                    }
                    form method="post" action="/login" {
                        label { "Email" input type="email" name="email" autocomplete="username" required autofocus; }
                        label { "Password" input type="password" name="password" autocomplete="current-password" required; }
                        button.primary type="submit" { "Sign in" }
                    }
                    details {
                        summary { "Sign in with an admin token" }
                        form method="post" action="/login" {
                            label { "Admin token" input type="password" name="token" autocomplete="off" required; }
                            button type="submit" { "Sign in with token" }
                        }
                    }
                }
            }
        }
    }
}
