//! The outbox: messages robots sent (email, text messages), each delivered by its channel's
//! courier ([`crate::mailer::Mailer`], [`crate::sms::Gateway`]) and kept with its delivery status.
//!
//! A message is queued in the transaction that records its run, so it exists exactly when the
//! run succeeded. A courier claims due messages of its channel with a lease (several hosts on one
//! PostgreSQL share the outbox), sends each, and records the outcome: sent; retried with
//! exponential backoff on the host's clock; or failed, with the reason, when the receiver refused
//! it or the last attempt failed.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;

use crate::clock::{Clock, Millis};
use crate::model::CrmError;
use crate::store::{self, Conn, Store};

/// How long a courier holds a claimed message before another may take it over.
const LEASE_MS: Millis = 120_000;

/// What kind of message a row is, and so which courier delivers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Email, over SMTP.
    Email,
    /// A text message, through the SMS gateway.
    Sms,
}

impl Channel {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
        }
    }
}

/// How a channel retries, and how often its idle courier looks for due messages.
#[derive(Debug, Clone, Copy)]
pub struct Retries {
    /// Attempts before a message that keeps failing transiently is left failed.
    pub max_attempts: i64,
    /// Delay before the first retry; doubles per attempt up to an hour.
    pub retry_base: Duration,
    /// How often an idle courier looks for due messages.
    pub poll: Duration,
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            retry_base: Duration::from_secs(30),
            poll: Duration::from_millis(250),
        }
    }
}

/// A message in the outbox, as the admin API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct OutboxEntry {
    /// Its id.
    pub id: String,
    /// `email` or `sms`.
    pub channel: String,
    /// The run that wrote it.
    pub run_id: Option<String>,
    /// Its recipients: email addresses, or phone numbers.
    pub to: Vec<String>,
    /// Its subject (empty for a text message).
    pub subject: String,
    /// queued, sending, sent or failed.
    pub status: String,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// When the next attempt is due.
    pub next_attempt_at: Millis,
    /// The last failure's reason.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: Millis,
    /// When the receiving server accepted it.
    pub sent_at: Option<Millis>,
}

fn entry_from_row(row: &store::Row) -> Result<OutboxEntry, CrmError> {
    let recipients: String = row.try_get("recipients")?;
    Ok(OutboxEntry {
        id: row.try_get("id")?,
        channel: row.try_get("channel")?,
        run_id: row.try_get("run_id")?,
        to: serde_json::from_str(&recipients).map_err(|e| CrmError::Invalid(format!("outbox recipients: {e}")))?,
        subject: row.try_get("subject")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        sent_at: row.try_get("sent_at")?,
    })
}

/// How many messages the outbox holds not yet sent (queued or being sent), of every channel.
pub async fn depth(conn: &mut Conn) -> Result<i64, CrmError> {
    Ok(
        store::query_scalar("SELECT COUNT(*) FROM outbox WHERE status IN ('queued', 'sending')")
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// The outbox, newest first, optionally only messages of one status, one run or one channel.
pub async fn list(
    conn: &mut Conn,
    status: Option<&str>,
    run_id: Option<&str>,
    channel: Option<&str>,
    limit: i64,
) -> Result<Vec<OutboxEntry>, CrmError> {
    let rows = store::query(
        "SELECT * FROM outbox WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR run_id = $2)
         AND ($3 IS NULL OR channel = $3) ORDER BY created_at DESC, id DESC LIMIT $4",
    )
    .bind(status)
    .bind(run_id)
    .bind(channel)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(entry_from_row).collect()
}

/// A claimed message with what sending needs.
pub struct Claimed {
    /// The message.
    pub entry: OutboxEntry,
    /// Its text.
    pub text: String,
    /// Its HTML body, for an email that has one.
    pub html: Option<String>,
}

/// What one delivery attempt came to.
pub enum Delivery {
    /// The receiver took it.
    Sent,
    /// It may go through later.
    Retry(String),
    /// It never will: the receiver refused it.
    Failed(String),
}

/// What delivers one channel's messages.
pub trait Courier: Send + Sync + 'static {
    /// The channel it delivers.
    const CHANNEL: Channel;

    /// Tries to deliver one message.
    fn send(&self, claimed: &Claimed) -> impl Future<Output = Delivery> + Send;
}

/// Starts delivering `courier`'s channel; stops when the handle is aborted.
pub fn spawn<C: Courier>(courier: Arc<C>, store: Store, clock: Clock, retries: Retries) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match deliver_due(&*courier, &store, &clock, &retries).await {
                Ok(0) => tokio::time::sleep(retries.poll).await,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, channel = C::CHANNEL.as_str(), "a courier could not reach the outbox");
                    tokio::time::sleep(retries.poll * 4).await;
                }
            }
        }
    })
}

/// Sends what is due now; returns how many messages it attempted.
async fn deliver_due<C: Courier>(
    courier: &C,
    store: &Store,
    clock: &Clock,
    retries: &Retries,
) -> Result<usize, CrmError> {
    let mut attempted = 0;
    while let Some(claimed) = claim(store, C::CHANNEL, clock.now()).await? {
        let delivery = courier.send(&claimed).await;
        record(store, &claimed.entry, delivery, retries, clock.now()).await?;
        attempted += 1;
    }
    Ok(attempted)
}

/// Claims the next due message of `channel`, or one whose courier's lease ran out.
async fn claim(store: &Store, channel: Channel, now: Millis) -> Result<Option<Claimed>, CrmError> {
    const CLAIMABLE: &str =
        "channel = $3 AND ((status = 'queued' AND next_attempt_at <= $1) OR (status = 'sending' AND lease_until < $1))";
    let any_due = format!("SELECT id FROM outbox WHERE {} LIMIT 1", CLAIMABLE.replace("$3", "$2"));
    let due: Option<String> = store::query_scalar(&any_due)
        .bind(now)
        .bind(channel.as_str())
        .fetch_optional(store.pool())
        .await?;
    if due.is_none() {
        return Ok(None);
    }
    let skip_locked = store.backend().skip_locked();
    let claim = format!(
        "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_until = $2
         WHERE id = (SELECT id FROM outbox WHERE {CLAIMABLE} ORDER BY next_attempt_at, id LIMIT 1 {skip_locked})
         RETURNING *"
    );
    let mut tx = store.write().await?;
    let row = store::query(&claim)
        .bind(now)
        .bind(now + LEASE_MS)
        .bind(channel.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    row.map(|row| {
        Ok(Claimed {
            entry: entry_from_row(&row)?,
            text: row.try_get("text_body")?,
            html: row.try_get("html_body")?,
        })
    })
    .transpose()
}

/// Writes what an attempt came to: sent, due again after a backoff, or failed.
async fn record(
    store: &Store,
    entry: &OutboxEntry,
    delivery: Delivery,
    retries: &Retries,
    now: Millis,
) -> Result<(), CrmError> {
    let (status, next_attempt_at, error) = match delivery {
        Delivery::Sent => ("sent", entry.next_attempt_at, None),
        Delivery::Retry(why) if entry.attempts < retries.max_attempts => {
            let exponent = u32::try_from(entry.attempts - 1).unwrap_or(0).min(16);
            let delay = retries
                .retry_base
                .saturating_mul(1 << exponent)
                .min(Duration::from_secs(3600));
            ("queued", now + delay.as_millis() as i64, Some(why))
        }
        Delivery::Retry(why) | Delivery::Failed(why) => ("failed", entry.next_attempt_at, Some(why)),
    };
    if let Some(why) = &error {
        tracing::warn!(id = %entry.id, channel = %entry.channel, status, error = %why, "message not delivered");
    }
    let mut tx = store.write().await?;
    store::query(
        "UPDATE outbox SET status = $1, next_attempt_at = $2, last_error = $3, lease_until = NULL,
         sent_at = CASE WHEN $1 = 'sent' THEN $4 ELSE sent_at END WHERE id = $5",
    )
    .bind(status)
    .bind(next_attempt_at)
    .bind(error)
    .bind(now)
    .bind(&entry.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
