//! Bitrix24 apps' own robots ("Applications24"), run unchanged beside the Wasm actions.
//!
//! An app registers a robot over REST (`bizproc.robot.add`: a code, a `HANDLER` URL, its
//! `PROPERTIES` and `RETURN_PROPERTIES`). The host keeps the registration here and lists it in
//! the catalogue as plugin `app:<CODE>`, whose config schema is made from the properties, so
//! admins put it on stages like any action. When such a robot runs, [`handler`] POSTs the run to
//! the handler in Bitrix24's form; with `USE_SUBSCRIPTION` the run then parks until the app
//! answers with `bizproc.event.send` ([`answer`]) or the robot's own timeout passes. The answer's
//! return values become the run's, for later robots' templates.

pub mod handler;
mod registration;

use std::collections::HashMap;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub use registration::{Property, PropertyType, Registration};

use crate::clock::Millis;
use crate::model::CrmError;
use crate::queue::{self, RunRecord, RunStatus};
use crate::rules;
use crate::store::{self, Conn, Row, Tx, placeholders};

/// The prefix of an app robot's plugin id: `app:` and its code, which no Wasm plugin id can
/// take (those are lowercase letters, digits and dashes).
pub const PLUGIN_PREFIX: &str = "app:";

/// The wait kind of a run waiting for its app's answer; no happening of the item has it.
pub const ANSWER_WAKE: &str = "app";

/// Why an app-robot call was refused, with Bitrix24's error codes.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The registration is incomplete or malformed (`ERROR_ACTIVITY_VALIDATION_FAILURE`).
    #[error("{0}")]
    Invalid(String),
    /// The handler URL is not http or https (`ERROR_UNSUPPORTED_PROTOCOL`).
    #[error("Unsupported handler protocol")]
    UnsupportedProtocol,
    /// The handler is not a URL (`ERROR_WRONG_HANDLER_URL`).
    #[error("Wrong handler URL")]
    WrongHandler,
    /// A robot with this code exists (`ERROR_ACTIVITY_ALREADY_INSTALLED`).
    #[error("Activity or Automation rule already installed!")]
    AlreadyInstalled,
    /// No robot has this code (`ERROR_ACTIVITY_NOT_FOUND`).
    #[error("Activity or Automation rule not found!")]
    NotFound,
    /// The event token is unknown, or its run is over or answered already (`ACCESS_DENIED`).
    #[error("{0}")]
    BadToken(&'static str),
    /// The database failed.
    #[error(transparent)]
    Crm(#[from] CrmError),
}

impl From<store::StoreError> for AppError {
    fn from(e: store::StoreError) -> Self {
        Self::Crm(CrmError::from(e))
    }
}

/// The plugin id robots use for the app robot `code`.
pub fn plugin_id(code: &str) -> String {
    format!("{PLUGIN_PREFIX}{code}")
}

/// Whether a plugin id names an app robot.
pub fn is_app(plugin_id: &str) -> bool {
    plugin_id.starts_with(PLUGIN_PREFIX)
}

/// Every registered app robot, by code.
pub async fn all(conn: &mut Conn) -> Result<Vec<Registration>, AppError> {
    let rows = store::query("SELECT registration FROM app_robots ORDER BY code")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(registration_of).collect()
}

/// The app robot `code`.
pub async fn get(conn: &mut Conn, code: &str) -> Result<Registration, AppError> {
    let row = store::query("SELECT registration FROM app_robots WHERE code = $1")
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(AppError::NotFound)?;
    registration_of(&row)
}

fn registration_of(row: &Row) -> Result<Registration, AppError> {
    let text: String = row.try_get("registration")?;
    serde_json::from_str(&text)
        .map_err(|e| AppError::Crm(CrmError::Invalid(format!("a stored app robot does not read back: {e}"))))
}

/// Registers a new app robot (`bizproc.robot.add`).
pub async fn add(tx: &mut Tx, registration: &Registration, user_id: i64, now: Millis) -> Result<(), AppError> {
    let added = store::query(
        "INSERT INTO app_robots (code, registration, registered_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $4) ON CONFLICT (code) DO NOTHING",
    )
    .bind(&registration.code)
    .bind(serde_json::to_string(registration).expect("a registration serializes"))
    .bind(user_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if added.rows_affected() == 0 {
        return Err(AppError::AlreadyInstalled);
    }
    Ok(())
}

/// Changes the fields of an app robot that `fields` names (`bizproc.robot.update`) and returns
/// it as changed.
pub async fn update(
    tx: &mut Tx,
    code: &str,
    fields: &Map<String, Value>,
    now: Millis,
) -> Result<Registration, AppError> {
    let changed = get(tx, code).await?.updated(fields)?;
    store::query("UPDATE app_robots SET registration = $1, updated_at = $2 WHERE code = $3")
        .bind(serde_json::to_string(&changed).expect("a registration serializes"))
        .bind(now)
        .bind(code)
        .execute(&mut *tx)
        .await?;
    Ok(changed)
}

/// Removes an app robot (`bizproc.robot.delete`); robots that use it then fail as "not
/// installed", as a removed plugin's do.
pub async fn delete(tx: &mut Tx, code: &str) -> Result<(), AppError> {
    let deleted = store::query("DELETE FROM app_robots WHERE code = $1")
        .bind(code)
        .execute(&mut *tx)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// The SHA-256 of an event token, as stored: the token itself is only ever in the handler call.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Records the handler call of a run's attempt under a new event token, which it returns;
/// a retried attempt's new token replaces the old one, and any answer to it.
pub async fn record_call(tx: &mut Tx, run_id: &str, code: &str, now: Millis) -> Result<String, AppError> {
    let token = format!("{run_id}|{}", hex::encode(rand::random::<[u8; 24]>()));
    store::query(
        "INSERT INTO app_calls (run_id, token_sha256, code, sent_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (run_id) DO UPDATE SET token_sha256 = excluded.token_sha256, code = excluded.code,
             sent_at = excluded.sent_at, answer = NULL, answered_at = NULL",
    )
    .bind(run_id)
    .bind(token_hash(&token))
    .bind(code)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(token)
}

/// What an app answered for a run (`bizproc.event.send`), once it did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Answer {
    /// The return values, only those the robot declared in `RETURN_PROPERTIES`.
    pub values: Map<String, Value>,
    /// The app's `LOG_MESSAGE`, for the run's log.
    pub log_message: String,
}

/// Takes an app's answer to a handler call (`bizproc.event.send`): the run it was for ends with
/// the answer's values if it is parked waiting, and the robots after it start. If the run is
/// still finishing its handler call (the app answered before the host wrote that the run waits),
/// the answer is kept and the run ends with it as soon as it parks ([`end_answered`]). The run's
/// row is locked first, so the two orders of these writes cannot miss each other.
pub async fn answer(
    tx: &mut Tx,
    token: &str,
    values: &Map<String, Value>,
    log_message: Option<String>,
    now: Millis,
) -> Result<(), AppError> {
    let row = store::query("SELECT run_id, code, answered_at FROM app_calls WHERE token_sha256 = $1")
        .bind(token_hash(token))
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::BadToken("Invalid event token"))?;
    let run_id: String = row.try_get("run_id")?;
    let code: String = row.try_get("code")?;
    if row.try_get::<Option<i64>, _>("answered_at")?.is_some() {
        return Err(AppError::BadToken("The event was already sent"));
    }
    let run = queue::lock(tx, &run_id)
        .await?
        .ok_or(AppError::BadToken("Invalid event token"))?;
    if !matches!(run.status, RunStatus::Running | RunStatus::Parked) {
        return Err(AppError::BadToken(
            "The robot run is over: it no longer waits for an event",
        ));
    }
    let declared = match get(tx, &code).await {
        Ok(registration) => registration.return_values(values),
        Err(AppError::NotFound) => Map::new(),
        Err(e) => return Err(e),
    };
    let answer = Answer {
        values: declared,
        log_message: log_message.unwrap_or_else(|| "Received response from the application.".into()),
    };
    store::query("UPDATE app_calls SET answer = $1, answered_at = $2 WHERE run_id = $3")
        .bind(serde_json::to_string(&answer).expect("an answer serializes"))
        .bind(now)
        .bind(&run_id)
        .execute(&mut *tx)
        .await?;
    if run.status == RunStatus::Parked {
        end_with(tx, &run, &answer, now).await?;
    }
    Ok(())
}

/// Ends the waits of runs that have just parked for their app's answer when the answer came in
/// already, in the transaction that parked them.
pub async fn end_answered(tx: &mut Tx, parked: &[&RunRecord], now: Millis) -> Result<(), CrmError> {
    let waiting: Vec<&RunRecord> = parked.iter().copied().filter(|run| is_app(&run.plugin_id)).collect();
    if waiting.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT run_id, answer FROM app_calls WHERE answered_at IS NOT NULL AND run_id IN ({})",
        placeholders(1, waiting.len())
    );
    let mut query = store::query(&sql);
    for run in &waiting {
        query = query.bind(run.id.as_str());
    }
    let mut answers: HashMap<String, Answer> = HashMap::new();
    for row in query.fetch_all(&mut *tx).await? {
        let text: String = row.try_get("answer")?;
        let answer = serde_json::from_str(&text).map_err(|e| CrmError::Invalid(format!("a stored app answer: {e}")))?;
        answers.insert(row.try_get("run_id")?, answer);
    }
    for run in waiting {
        if let Some(answer) = answers.get(&run.id) {
            end_with(tx, run, answer, now).await?;
        }
    }
    Ok(())
}

/// The answer an app already sent for a run, if any: a handler that answers before it returns
/// lets its run end without parking.
pub async fn early_answer(conn: &mut Conn, run_id: &str) -> Result<Option<Answer>, CrmError> {
    let text: Option<Option<String>> = store::query_scalar("SELECT answer FROM app_calls WHERE run_id = $1")
        .bind(run_id)
        .fetch_optional(&mut *conn)
        .await?;
    text.flatten()
        .map(|text| serde_json::from_str(&text).map_err(|e| CrmError::Invalid(format!("a stored app answer: {e}"))))
        .transpose()
}

async fn end_with(tx: &mut Tx, run: &RunRecord, answer: &Answer, now: Millis) -> Result<(), CrmError> {
    let end = queue::WaitEnd {
        woke_by: ANSWER_WAKE,
        values: answer.values.clone(),
        log: Some(answer.log_message.clone()),
    };
    rules::end_wait(tx, run, &end, now).await
}
