//! Built-in action "send-sms": a text message to the client (the item's PHONE, or that of its
//! contact or company) or to employees (their PERSONAL_MOBILE), queued in the host's outbox with
//! the run and delivered through the SMS gateway the admin configured.

use serde::Deserialize;
use stagewright_sdk::{Action, ActionError, Capability, Context, Level, Manifest, SmsRecipient, Value, id_from, json};

/// The robot's configuration; the text and numbers may hold templates.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// client (the default), responsible, users or numbers.
    #[serde(default)]
    to: Option<String>,
    /// The employees when `to` is `users`.
    #[serde(default)]
    user_ids: Vec<Value>,
    /// The phone numbers when `to` is `numbers`.
    #[serde(default)]
    numbers: Vec<String>,
    /// The message.
    text: String,
}

/// Queues one text message per recipient.
pub struct SendSms;

fn recipients(ctx: &Context, config: &Config) -> Result<Vec<SmsRecipient>, ActionError> {
    Ok(match config.to.as_deref().unwrap_or("client") {
        "client" => vec![SmsRecipient::Phone(ctx.client_value("PHONE")?.ok_or_else(|| {
            ActionError::Failed("the client has no phone number: none on the item, its contact or its company".into())
        })?)],
        "responsible" => vec![SmsRecipient::User(ctx.responsible()?)],
        "users" if config.user_ids.is_empty() => {
            return Err(ActionError::InvalidConfig(
                "user_ids is required when to is users".into(),
            ));
        }
        "users" => config
            .user_ids
            .iter()
            .map(|id| id_from(id, "user_ids").map(SmsRecipient::User))
            .collect::<Result<_, _>>()?,
        "numbers" if config.numbers.is_empty() => {
            return Err(ActionError::InvalidConfig(
                "numbers is required when to is numbers".into(),
            ));
        }
        "numbers" => config.numbers.iter().cloned().map(SmsRecipient::Phone).collect(),
        other => {
            return Err(ActionError::InvalidConfig(format!(
                "to {other} is not client, responsible, users or numbers"
            )));
        }
    })
}

impl Action for SendSms {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "send-sms",
            "Send SMS",
            env!("CARGO_PKG_VERSION"),
            "Texts the client (the item's, its contact's or its company's phone) or employees (their mobile numbers) through the host's SMS gateway.",
        )
        .config_schema(json!({
            "type": "object",
            "required": ["text"],
            "additionalProperties": false,
            "properties": {
                "to": {"type": "string", "enum": ["client", "responsible", "users", "numbers"], "x-enum-titles": ["The client", "The responsible", "Employees", "Phone numbers"], "title": "To", "description": "The client when left out: the item's PHONE, else its contact's, else its company's. Employees get it at their mobile number (PERSONAL_MOBILE)."},
                "user_ids": {"type": "array", "items": {"type": ["integer", "string"]}, "title": "Employees", "description": "The employees when To is Employees; templates allowed."},
                "numbers": {"type": "array", "items": {"type": "string"}, "title": "Phone numbers", "description": "The numbers when To is Phone numbers; templates allowed."},
                "text": {"type": "string", "minLength": 1, "maxLength": 1600, "title": "Text", "description": "The message; templates allowed."}
            },
            "allOf": [
                {"if": {"properties": {"to": {"const": "users"}}, "required": ["to"]}, "then": {"required": ["user_ids"]}},
                {"if": {"properties": {"to": {"const": "numbers"}}, "required": ["to"]}, "then": {"required": ["numbers"]}}
            ]
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {"message_ids": {"type": "array", "items": {"type": "string"}, "title": "Outbox ids", "description": "One per recipient."}}
        }))
        .capability(Capability::Write("sms".into()))
        .capability(Capability::Read("contact".into()))
        .capability(Capability::Read("company".into()))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let mut message_ids = Vec::new();
        for to in recipients(ctx, &config)? {
            message_ids.push(ctx.send_sms(&to, &config.text)?);
        }
        ctx.log(Level::Info, &format!("queued text messages {}", message_ids.join(", ")));
        Ok(json!({"message_ids": message_ids}))
    }
}

stagewright_sdk::export_action!(SendSms);
