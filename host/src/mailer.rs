//! Outgoing email: the outbox and the mailer that delivers it over SMTP.
//!
//! A robot's email is queued in the transaction that records its run, so it exists exactly when
//! the run succeeded, however often the run was attempted. The mailer claims due messages with a
//! lease (several hosts on one PostgreSQL share the outbox), sends them with lettre, and retries
//! transient failures with exponential backoff on the host's clock; a permanent SMTP refusal
//! (5xx) or the last attempt leaves the message `failed` with the server's reason. A message's
//! outbox id is also its Message-ID, so a receiver can recognise a redelivery after a crash
//! between the server's acceptance and the outbox update.

use std::sync::Arc;
use std::time::Duration;

use crate::store;
use lettre::message::{Mailbox, MultiPart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::clock::{Clock, Millis};
use crate::model::CrmError;
use crate::store::{Conn, Store, Tx};

/// Where and how mail leaves this host.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The SMTP server as a URL (`smtp://host:25`, `smtp://user:pass@host:587?tls=required`,
    /// `smtps://host:465`); `None` keeps mail queued until one is configured.
    pub smtp_url: Option<String>,
    /// The sender of every message ("Sales <sales@example.com>").
    pub from: String,
    /// Attempts before a message that keeps failing transiently is left failed.
    pub max_attempts: i64,
    /// Delay before the first retry; doubles per attempt up to an hour.
    pub retry_base: Duration,
    /// How often an idle mailer looks for due messages.
    pub poll: Duration,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "Stagewright <stagewright@localhost>".into(),
            max_attempts: 8,
            retry_base: Duration::from_secs(30),
            poll: Duration::from_millis(250),
        }
    }
}

/// Why mail settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The sender is not an address.
    #[error("the sender {0:?} is not an email address: {1}")]
    BadSender(String, String),
    /// The SMTP URL is malformed.
    #[error("the SMTP URL is not usable: {0}")]
    BadSmtpUrl(String),
}

/// A message a robot queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// Outbox id and Message-ID local part.
    pub id: String,
    /// The run that wrote it.
    pub run_id: Option<String>,
    /// Recipient addresses, already checked.
    pub to: Vec<String>,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body, if any.
    pub html: Option<String>,
}

/// A message in the outbox, as the admin API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct OutboxEntry {
    /// Its id.
    pub id: String,
    /// The run that wrote it.
    pub run_id: Option<String>,
    /// Its recipients.
    pub to: Vec<String>,
    /// Its subject.
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
    /// When the SMTP server accepted it.
    pub sent_at: Option<Millis>,
}

/// Checks an address the way the mailer will use it.
pub fn check_address(address: &str) -> Result<String, CrmError> {
    address
        .trim()
        .parse::<lettre::Address>()
        .map(|a| a.to_string())
        .map_err(|e| CrmError::Invalid(format!("{address:?} is not an email address: {e}")))
}

/// Puts a message in the outbox, due at once.
pub async fn queue(tx: &mut Tx, email: &OutgoingEmail, now: Millis) -> Result<(), CrmError> {
    store::query(
        "INSERT INTO outbox (id, run_id, recipients, subject, text_body, html_body, status, attempts, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, $7, $7)",
    )
    .bind(&email.id)
    .bind(&email.run_id)
    .bind(serde_json::Value::from(email.to.clone()).to_string())
    .bind(&email.subject)
    .bind(&email.text)
    .bind(&email.html)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn recipients(row: &store::Row) -> Result<Vec<String>, CrmError> {
    let text: String = row.try_get("recipients")?;
    serde_json::from_str(&text).map_err(|e| CrmError::Invalid(format!("outbox recipients: {e}")))
}

fn entry_from_row(row: &store::Row) -> Result<OutboxEntry, CrmError> {
    Ok(OutboxEntry {
        id: row.try_get("id")?,
        run_id: row.try_get("run_id")?,
        to: recipients(row)?,
        subject: row.try_get("subject")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        sent_at: row.try_get("sent_at")?,
    })
}

/// How many messages the outbox holds not yet sent (queued or being sent).
pub async fn depth(conn: &mut Conn) -> Result<i64, CrmError> {
    Ok(
        store::query_scalar("SELECT COUNT(*) FROM outbox WHERE status IN ('queued', 'sending')")
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// The outbox, newest first, optionally only messages of one status or one run.
pub async fn outbox(
    conn: &mut Conn,
    status: Option<&str>,
    run_id: Option<&str>,
    limit: i64,
) -> Result<Vec<OutboxEntry>, CrmError> {
    let rows = store::query(
        "SELECT * FROM outbox WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR run_id = $2)
         ORDER BY created_at DESC, id DESC LIMIT $3",
    )
    .bind(status)
    .bind(run_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(entry_from_row).collect()
}

/// A claimed message with what sending needs.
struct Claimed {
    entry: OutboxEntry,
    text: String,
    html: Option<String>,
}

/// Delivers the outbox over SMTP.
pub struct Mailer {
    store: Store,
    clock: Clock,
    settings: MailSettings,
    from: Mailbox,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

/// What one delivery attempt came to.
enum Delivery {
    Sent,
    Retry(String),
    Failed(String),
}

impl Mailer {
    /// A mailer for these settings, or `None` when no SMTP server is configured.
    pub fn new(store: Store, clock: Clock, settings: MailSettings) -> Result<Option<Self>, MailError> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::BadSender(settings.from.clone(), e.to_string()))?;
        let Some(url) = &settings.smtp_url else {
            return Ok(None);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::BadSmtpUrl(e.to_string()))?
            .timeout(Some(Duration::from_secs(30)))
            .build();
        Ok(Some(Self {
            store,
            clock,
            settings,
            from,
            transport,
        }))
    }

    /// Starts delivering; stops when the handle is aborted.
    pub fn spawn(self: Arc<Self>) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                match self.deliver_due().await {
                    Ok(0) => tokio::time::sleep(self.settings.poll).await,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "the mailer could not reach the outbox");
                        tokio::time::sleep(self.settings.poll * 4).await;
                    }
                }
            }
        })
    }

    /// Sends what is due now; returns how many messages it attempted.
    async fn deliver_due(&self) -> Result<usize, CrmError> {
        let mut attempted = 0;
        while let Some(claimed) = self.claim().await? {
            let delivery = self.send(&claimed).await;
            self.record(&claimed.entry, delivery).await?;
            attempted += 1;
        }
        Ok(attempted)
    }

    /// Claims the next due message, or one whose sender's lease ran out.
    async fn claim(&self) -> Result<Option<Claimed>, CrmError> {
        const CLAIMABLE: &str =
            "(status = 'queued' AND next_attempt_at <= $1) OR (status = 'sending' AND lease_until < $1)";
        let now = self.clock.now();
        let due: Option<String> = store::query_scalar(&format!("SELECT id FROM outbox WHERE {CLAIMABLE} LIMIT 1"))
            .bind(now)
            .fetch_optional(self.store.pool())
            .await?;
        if due.is_none() {
            return Ok(None);
        }
        let skip_locked = self.store.backend().skip_locked();
        let claim = format!(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_until = $2
             WHERE id = (SELECT id FROM outbox WHERE {CLAIMABLE} ORDER BY next_attempt_at, id LIMIT 1 {skip_locked})
             RETURNING *"
        );
        let mut tx = self.store.write().await?;
        let row = store::query(&claim)
            .bind(now)
            .bind(now + 120_000)
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

    async fn send(&self, claimed: &Claimed) -> Delivery {
        let message = match self.message(claimed) {
            Ok(message) => message,
            Err(why) => return Delivery::Failed(why),
        };
        match self.transport.send(message).await {
            Ok(_) => Delivery::Sent,
            Err(e) if e.is_permanent() => Delivery::Failed(format!("the SMTP server refused it: {e}")),
            Err(e) => Delivery::Retry(format!("SMTP: {e}")),
        }
    }

    fn message(&self, claimed: &Claimed) -> Result<Message, String> {
        let entry = &claimed.entry;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(&entry.subject)
            .message_id(Some(format!("<{}@stagewright>", entry.id)));
        for to in &entry.to {
            builder = builder.to(to.parse().map_err(|e| format!("recipient {to}: {e}"))?);
        }
        let built = match &claimed.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(claimed.text.clone(), html.clone())),
            None => builder.header(ContentType::TEXT_PLAIN).body(claimed.text.clone()),
        };
        built.map_err(|e| e.to_string())
    }

    async fn record(&self, entry: &OutboxEntry, delivery: Delivery) -> Result<(), CrmError> {
        let now = self.clock.now();
        let (status, next_attempt_at, error) = match delivery {
            Delivery::Sent => ("sent", entry.next_attempt_at, None),
            Delivery::Retry(why) if entry.attempts < self.settings.max_attempts => {
                let exponent = u32::try_from(entry.attempts - 1).unwrap_or(0).min(16);
                let delay = self
                    .settings
                    .retry_base
                    .saturating_mul(1 << exponent)
                    .min(Duration::from_secs(3600));
                ("queued", now + delay.as_millis() as i64, Some(why))
            }
            Delivery::Retry(why) | Delivery::Failed(why) => ("failed", entry.next_attempt_at, Some(why)),
        };
        if let Some(why) = &error {
            tracing::warn!(id = %entry.id, status, error = %why, "email not delivered");
        }
        let mut tx = self.store.write().await?;
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
}
