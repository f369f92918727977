//! Built-in action "send-email": email to the client (the item's EMAIL, or that of its contact
//! or company) or to employees, queued in the host's outbox with the run and delivered by its
//! mailer over SMTP from the configured sender.

use serde::Deserialize;
use stagewright_sdk::{
    Action, ActionError, Capability, Context, EmailMessage, EmailRecipient, Level, Manifest, Value, id_from, json,
};

/// The robot's configuration; subject and bodies may hold templates.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// client (the default), responsible, user or address.
    #[serde(default)]
    to: Option<String>,
    /// The employee when `to` is `user`.
    #[serde(default)]
    user_id: Option<Value>,
    /// The addresses when `to` is `address`.
    #[serde(default)]
    addresses: Vec<String>,
    /// The subject line.
    subject: String,
    /// The plain-text body.
    body: String,
    /// An HTML body sent beside the text one.
    #[serde(default)]
    html_body: Option<String>,
}

/// Queues one email.
pub struct SendEmail;

fn recipients(ctx: &Context, config: &Config) -> Result<Vec<EmailRecipient>, ActionError> {
    Ok(match config.to.as_deref().unwrap_or("client") {
        "client" => vec![EmailRecipient::Address(ctx.client_value("EMAIL")?.ok_or_else(
            || {
                ActionError::Failed(
                    "the client has no email address: none on the item, its contact or its company".into(),
                )
            },
        )?)],
        "responsible" => vec![EmailRecipient::User(ctx.responsible()?)],
        "user" => {
            let user = config
                .user_id
                .as_ref()
                .ok_or_else(|| ActionError::InvalidConfig("user_id is required when to is user".into()))?;
            vec![EmailRecipient::User(id_from(user, "user_id")?)]
        }
        "address" if config.addresses.is_empty() => {
            return Err(ActionError::InvalidConfig(
                "addresses is required when to is address".into(),
            ));
        }
        "address" => config.addresses.iter().cloned().map(EmailRecipient::Address).collect(),
        other => {
            return Err(ActionError::InvalidConfig(format!(
                "to {other} is not client, responsible, user or address"
            )));
        }
    })
}

impl Action for SendEmail {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "send-email",
            "Send email",
            env!("CARGO_PKG_VERSION"),
            "Emails the client (the item's, its contact's or its company's address) or employees.",
        )
        .config_schema(json!({
            "type": "object",
            "required": ["subject", "body"],
            "additionalProperties": false,
            "properties": {
                "to": {"type": "string", "enum": ["client", "responsible", "user", "address"], "title": "To", "description": "client when left out: the item's EMAIL, else its contact's, else its company's."},
                "user_id": {"type": ["integer", "string"], "title": "Employee", "description": "The employee when To is user; templates allowed."},
                "addresses": {"type": "array", "items": {"type": "string"}, "title": "Addresses", "description": "The addresses when To is address; templates allowed."},
                "subject": {"type": "string", "minLength": 1, "title": "Subject", "description": "Templates allowed."},
                "body": {"type": "string", "title": "Text", "description": "The plain-text body; templates allowed."},
                "html_body": {"type": "string", "title": "HTML", "description": "An HTML body sent beside the text; templates allowed."}
            },
            "allOf": [
                {"if": {"properties": {"to": {"const": "user"}}, "required": ["to"]}, "then": {"required": ["user_id"]}},
                {"if": {"properties": {"to": {"const": "address"}}, "required": ["to"]}, "then": {"required": ["addresses"]}}
            ]
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {"message_id": {"type": "string", "title": "Outbox id"}}
        }))
        .capability(Capability::Email)
        .capability(Capability::Read("contact".into()))
        .capability(Capability::Read("company".into()))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let to = recipients(ctx, &config)?;
        let message_id = ctx.send_email(&EmailMessage {
            to,
            subject: config.subject,
            text: config.body,
            html: config.html_body,
        })?;
        ctx.log(Level::Info, &format!("queued email {message_id}"));
        Ok(json!({"message_id": message_id}))
    }
}

stagewright_sdk::export_action!(SendEmail);
