//! Text messages (SMS) through the message provider the host owns: robots queue them in the
//! outbox ([`crate::outbox`], channel `sms`) with their run, and the [`Gateway`] courier posts
//! each to the HTTP gateway the admin configured (`--sms-gateway-url`, an optional header such as
//! `Authorization`, and a body template), under the rules of every outbound request: no internal
//! address unless allowed, bounded time and size, the message id as `Idempotency-Key`. A 2xx
//! answer is "sent"; a 5xx, a 429 or no answer is tried again with backoff; any other answer, or
//! a refused address, leaves the message failed with the reason.

use std::sync::Arc;

use crate::clock::Millis;
use crate::model::CrmError;
use crate::model::multifields;
use crate::outbox::{Channel, Claimed, Courier, Delivery, Retries};
use crate::runtime::{HostPost, Outbound};
use crate::store::{self, Store, Tx};

/// The body a gateway gets unless the admin wrote another: JSON with the number and the text.
pub const DEFAULT_BODY: &str = r#"{"to": "{to}", "text": "{text}", "id": "{id}"}"#;

/// The most characters one message may hold: ten SMS segments.
pub const MAX_TEXT_CHARS: usize = 1_600;

/// Where and how text messages leave this host.
#[derive(Debug, Clone)]
pub struct SmsSettings {
    /// The gateway's URL; `None` keeps messages queued until one is configured.
    pub gateway_url: Option<String>,
    /// One header every request carries, as `Name: value` (`Authorization: Bearer …`).
    pub header: Option<String>,
    /// The body, with `{to}`, `{text}` and `{id}` replaced by the message's number, text and
    /// outbox id, each escaped for the body's media type (JSON, a form, or as is).
    pub body_template: String,
    /// The body's media type.
    pub content_type: String,
    /// How often a failing message is tried again.
    pub retries: Retries,
}

impl Default for SmsSettings {
    fn default() -> Self {
        Self {
            gateway_url: None,
            header: None,
            body_template: DEFAULT_BODY.into(),
            content_type: "application/json".into(),
            retries: Retries::default(),
        }
    }
}

/// Why SMS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The header is not `Name: value`.
    #[error("the SMS gateway header {0:?} is not \"Name: value\"")]
    BadHeader(String),
    /// The URL is not an http or https URL.
    #[error("the SMS gateway URL {0:?} is not an http:// or https:// URL")]
    BadUrl(String),
}

/// A text message a robot queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingSms {
    /// Its outbox id.
    pub id: String,
    /// The run that wrote it.
    pub run_id: Option<String>,
    /// The phone number, as [`check_number`] wrote it.
    pub to: String,
    /// The text.
    pub text: String,
}

/// A phone number as the gateway gets it: its digits, with a leading + kept; at least five.
pub fn check_number(number: &str) -> Result<String, CrmError> {
    let checked = multifields::comparable("PHONE", number)?;
    if checked.trim_start_matches('+').len() < 5 {
        return Err(CrmError::Invalid(format!("{number:?} is not a phone number")));
    }
    Ok(checked)
}

/// A message's text, checked: not empty, at most [`MAX_TEXT_CHARS`].
pub fn check_text(text: &str) -> Result<&str, CrmError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(CrmError::Invalid("the text is empty".into()));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(CrmError::Invalid(format!(
            "the text is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    Ok(text)
}

/// Puts a message in the outbox, due at once.
pub async fn queue(tx: &mut Tx, sms: &OutgoingSms, now: Millis) -> Result<(), CrmError> {
    store::query(
        "INSERT INTO outbox (id, run_id, recipients, subject, text_body, html_body, status, attempts, next_attempt_at, created_at, channel)
         VALUES ($1, $2, $3, '', $4, NULL, 'queued', 0, $5, $5, 'sms')",
    )
    .bind(&sms.id)
    .bind(&sms.run_id)
    .bind(serde_json::Value::from(vec![sms.to.clone()]).to_string())
    .bind(&sms.text)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The built-in provider: posts each message to the admin's HTTP gateway.
pub struct Gateway {
    url: String,
    header: Option<(String, String)>,
    body_template: String,
    content_type: String,
    outbound: Arc<Outbound>,
    store: Store,
}

impl Gateway {
    /// The gateway of these settings, or `None` when none is configured.
    pub fn new(settings: &SmsSettings, outbound: Arc<Outbound>, store: Store) -> Result<Option<Self>, SmsError> {
        let Some(url) = &settings.gateway_url else {
            return Ok(None);
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) || http::Uri::try_from(url.as_str()).is_err() {
            return Err(SmsError::BadUrl(url.clone()));
        }
        let header = settings
            .header
            .as_deref()
            .map(|line| {
                let (name, value) = line.split_once(':').ok_or_else(|| SmsError::BadHeader(line.into()))?;
                let (name, value) = (name.trim(), value.trim());
                let valid = http::HeaderName::try_from(name).is_ok() && http::HeaderValue::try_from(value).is_ok();
                valid
                    .then(|| (name.to_string(), value.to_string()))
                    .ok_or_else(|| SmsError::BadHeader(line.into()))
            })
            .transpose()?;
        Ok(Some(Self {
            url: url.clone(),
            header,
            body_template: settings.body_template.clone(),
            content_type: settings.content_type.clone(),
            outbound,
            store,
        }))
    }

    /// The request body for a message: the template with each placeholder replaced, escaped for
    /// the media type.
    fn body(&self, id: &str, to: &str, text: &str) -> String {
        let escape = |value: &str| -> String {
            if self.content_type.contains("json") {
                let quoted = serde_json::Value::from(value).to_string();
                quoted[1..quoted.len() - 1].to_string()
            } else if self.content_type.contains("x-www-form-urlencoded") {
                form_urlencoded::byte_serialize(value.as_bytes()).collect()
            } else {
                value.to_string()
            }
        };
        self.body_template
            .replace("{to}", &escape(to))
            .replace("{text}", &escape(text))
            .replace("{id}", &escape(id))
    }
}

impl Courier for Gateway {
    const CHANNEL: Channel = Channel::Sms;

    async fn send(&self, claimed: &Claimed) -> Delivery {
        let entry = &claimed.entry;
        let Some(to) = entry.to.first() else {
            return Delivery::Failed("the message has no recipient".into());
        };
        let post = HostPost {
            url: &self.url,
            content_type: &self.content_type,
            header: self.header.as_ref().map(|(n, v)| (n.as_str(), v.as_str())),
            body: self.body(&entry.id, to, &claimed.text),
            idempotency_key: &entry.id,
        };
        match self.outbound.post(&self.store, post).await {
            Ok(status) if status.is_success() => Delivery::Sent,
            Ok(status) if status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS => {
                Delivery::Retry(format!("the SMS gateway answered {status}"))
            }
            Ok(status) => Delivery::Failed(format!("the SMS gateway refused it: {status}")),
            Err(unanswered) if unanswered.transient => Delivery::Retry(unanswered.reason),
            Err(unanswered) => Delivery::Failed(unanswered.reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_texts_are_checked_as_the_gateway_gets_them() {
        assert_eq!(check_number("+1 (555) 010-2000").unwrap(), "+15550102000");
        assert!(check_number("12").is_err());
        assert!(check_number("call me").is_err());
        assert_eq!(check_text("  hi ").unwrap(), "hi");
        assert!(check_text(" ").is_err());
        assert!(check_text(&"x".repeat(MAX_TEXT_CHARS + 1)).is_err());
    }
}
