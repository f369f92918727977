//! Outgoing email, delivered from the outbox ([`crate::outbox`]) over SMTP.
//!
//! A robot's email is queued in the transaction that records its run, so it exists exactly when
//! the run succeeded, however often the run was attempted. The mailer sends it with lettre; a
//! permanent SMTP refusal (5xx) leaves the message `failed` with the server's reason, anything
//! else is retried. A message's outbox id is also its Message-ID, so a receiver can recognise a
//! redelivery after a crash between the server's acceptance and the outbox update.

use std::time::Duration;

use crate::store;
use lettre::message::{Mailbox, MultiPart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::clock::Millis;
use crate::model::CrmError;
use crate::outbox::{Channel, Claimed, Courier, Delivery, Retries};
use crate::store::Tx;

/// Where and how mail leaves this host.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The SMTP server as a URL (`smtp://host:25`, `smtp://user:pass@host:587?tls=required`,
    /// `smtps://host:465`); `None` keeps mail queued until one is configured.
    pub smtp_url: Option<String>,
    /// The sender of every message ("Sales <sales@example.com>").
    pub from: String,
    /// How often a failing message is tried again, and how long an idle mailer rests.
    pub retries: Retries,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "Stagewright <stagewright@localhost>".into(),
            retries: Retries::default(),
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
        "INSERT INTO outbox (id, run_id, recipients, subject, text_body, html_body, status, attempts, next_attempt_at, created_at, channel)
         VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, $7, $7, 'email')",
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

/// Delivers email from the outbox over SMTP.
pub struct Mailer {
    from: Mailbox,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Mailer {
    /// A mailer for these settings, or `None` when no SMTP server is configured.
    pub fn new(settings: &MailSettings) -> Result<Option<Self>, MailError> {
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
        Ok(Some(Self { from, transport }))
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
}

impl Courier for Mailer {
    const CHANNEL: Channel = Channel::Email;

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
}
