//! Signing in to the board: users' passwords (argon2 hashes, set by an admin) and the sessions of
//! signed-in browsers. A session's secret lives only in the browser's cookie; the database keeps
//! its SHA-256, so a copy of the database signs no one in. Each session has a CSRF token that
//! every change made through it must send back.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

use crate::clock::Millis;
use crate::directory::{self, AUTOMATION_USER, TokenKind};
use crate::model::CrmError;
use crate::store::{self, Conn, Tx};

/// How long a session lasts after signing in.
pub const SESSION_LIFETIME: Millis = 7 * 24 * 60 * 60 * 1000;

/// The shortest password an admin may set.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// A session just opened: what goes into the browser's cookie and page.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The cookie's secret.
    pub secret: String,
    /// The token every change must send back.
    pub csrf_token: String,
}

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// The user.
    pub user_id: i64,
    /// Whether the user may do everything: a user marked admin, or a session opened with an
    /// admin token.
    pub is_admin: bool,
    /// The session's CSRF token.
    pub csrf_token: String,
}

/// How a sign-in was refused, in words that do not tell which half was wrong.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The email or password (or token) did not match an active user.
    #[error("The email or password is wrong.")]
    WrongCredentials,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] CrmError),
}

/// Sets (or resets) a user's password.
pub async fn set_password(tx: &mut Tx, user_id: i64, password: &str) -> Result<(), CrmError> {
    if user_id == AUTOMATION_USER {
        return Err(CrmError::Invalid("the automation user cannot sign in".into()));
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(CrmError::Invalid(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    directory::user(tx, user_id).await?;
    let salt = SaltString::generate(&mut OsRng);
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| CrmError::Invalid(format!("the password cannot be hashed: {e}")))?
        .to_string();
    store::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The active user with this email and password. The hash is checked outside any write
/// transaction: argon2 takes tens of milliseconds on purpose.
pub async fn check_password(conn: &mut Conn, email: &str, password: &str) -> Result<i64, SignInError> {
    let row = store::query(
        "SELECT id, password_hash FROM users WHERE LOWER(email) = LOWER($1) AND active = 1 AND password_hash IS NOT NULL",
    )
    .bind(email.trim())
    .fetch_optional(&mut *conn)
    .await
    .map_err(CrmError::from)?;
    let Some(row) = row else {
        return Err(SignInError::WrongCredentials);
    };
    let hash: String = row.try_get("password_hash").map_err(CrmError::from)?;
    let parsed = PasswordHash::new(&hash).map_err(|_| SignInError::WrongCredentials)?;
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .map_err(|_| SignInError::WrongCredentials)?;
    Ok(row.try_get("id").map_err(CrmError::from)?)
}

/// The user an admin token belongs to.
pub async fn check_admin_token(conn: &mut Conn, token: &str) -> Result<i64, SignInError> {
    directory::token_holder(conn, token.trim(), TokenKind::Admin)
        .await?
        .map(|holder| holder.user.id)
        .ok_or(SignInError::WrongCredentials)
}

/// Opens a session for a user who proved who they are.
pub async fn open(tx: &mut Tx, user_id: i64, with_admin_token: bool, now: Millis) -> Result<NewSession, CrmError> {
    let session = NewSession {
        secret: random_hex(),
        csrf_token: random_hex(),
    };
    store::query(
        "INSERT INTO sessions (secret_sha256, user_id, csrf_token, with_admin_token, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(digest(&session.secret))
    .bind(user_id)
    .bind(&session.csrf_token)
    .bind(i64::from(with_admin_token))
    .bind(now)
    .bind(now + SESSION_LIFETIME)
    .execute(&mut *tx)
    .await?;
    Ok(session)
}

/// Who the session with this secret belongs to, if it is open and its user active.
pub async fn find(conn: &mut Conn, secret: &str, now: Millis) -> Result<Option<SignedIn>, CrmError> {
    let row = store::query(
        "SELECT sessions.user_id, sessions.csrf_token, sessions.with_admin_token, users.is_admin
         FROM sessions JOIN users ON users.id = sessions.user_id
         WHERE sessions.secret_sha256 = $1 AND sessions.expires_at > $2 AND users.active = 1",
    )
    .bind(digest(secret))
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let flag = |name: &str| row.try_get::<i64, _>(name).map(|v| v != 0);
    Ok(Some(SignedIn {
        user_id: row.try_get("user_id")?,
        is_admin: flag("with_admin_token")? || flag("is_admin")?,
        csrf_token: row.try_get("csrf_token")?,
    }))
}

/// Ends a session (signing out).
pub async fn close(tx: &mut Tx, secret: &str) -> Result<(), CrmError> {
    store::query("DELETE FROM sessions WHERE secret_sha256 = $1")
        .bind(digest(secret))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
