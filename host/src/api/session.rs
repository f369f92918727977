//! A board session as API credentials: the browser's `stagewright_session` cookie names the
//! session, and every request that changes something sends the session's CSRF token in
//! `X-CSRF-Token` (as a form field `csrf_token` for plain HTML forms). The board calls the same
//! admin API and REST methods as any client, so the session is one more way to authenticate,
//! not a second set of handlers.

use axum::http::{HeaderMap, Method, header};

use super::{ApiError, AppState};
use crate::sessions::{self, SignedIn};

/// The session cookie's name.
pub const COOKIE: &str = "stagewright_session";

/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session secret in the request's cookies, if any.
pub fn cookie_secret(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// Who is signed in through the request's session cookie, if anyone.
pub async fn signed_in(app: &AppState, headers: &HeaderMap) -> Result<Option<SignedIn>, ApiError> {
    let Some(secret) = cookie_secret(headers) else {
        return Ok(None);
    };
    let mut conn = app.store.pool().acquire().await?;
    Ok(sessions::find(&mut conn, secret, app.clock.now()).await?)
}

/// Refuses a change (any method but GET and HEAD) that does not carry the session's CSRF token.
pub fn check_csrf(method: &Method, headers: &HeaderMap, session: &SignedIn) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD) {
        return Ok(());
    }
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    if sent == Some(session.csrf_token.as_str()) {
        Ok(())
    } else {
        Err(ApiError::csrf())
    }
}

/// The `Set-Cookie` value that stores a new session in the browser: HttpOnly so no script reads
/// it, SameSite=Strict so no other site's page sends it.
pub fn set_cookie(secret: &str) -> String {
    let max_age = sessions::SESSION_LIFETIME / 1000;
    format!("{COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}")
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}
