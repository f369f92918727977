//! Built-in action "notify": a notification to the item's responsible, a chosen user, or the
//! responsible's supervisor (Bitrix24's "Control": tell the head of department).

use serde::Deserialize;
use stagewright_sdk::{
    Action, ActionError, Capability, Context, Level, Manifest, NotifyRecipient, Value, id_from, json,
};

/// The robot's configuration; the message may hold templates.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// responsible (the default), user or supervisor.
    #[serde(default)]
    to: Option<String>,
    /// The user to notify when `to` is `user`.
    #[serde(default)]
    user_id: Option<Value>,
    /// The text.
    message: String,
}

/// Sends one notification.
pub struct Notify;

impl Action for Notify {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "notify",
            "Notify",
            env!("CARGO_PKG_VERSION"),
            "Notifies the item's responsible, a chosen user, or the responsible's supervisor.",
        )
        .config_schema(json!({
            "type": "object",
            "required": ["message"],
            "additionalProperties": false,
            "properties": {
                "to": {"type": "string", "enum": ["responsible", "user", "supervisor"], "title": "To", "description": "responsible when left out; supervisor is the head of the responsible's department."},
                "user_id": {"type": ["integer", "string"], "title": "User", "description": "The user to notify when To is user; templates allowed."},
                "message": {"type": "string", "minLength": 1, "title": "Message", "description": "The text; templates allowed."}
            },
            "if": {"properties": {"to": {"const": "user"}}, "required": ["to"]},
            "then": {"required": ["user_id"]}
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {
                "notification_id": {"type": "integer", "title": "Notification id"},
                "user_id": {"type": "integer", "title": "Notified user"}
            }
        }))
        .capability(Capability::Notify)
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let responsible = || {
            ctx.field("ASSIGNED_BY_ID")
                .ok_or_else(|| ActionError::Failed("the item has no responsible".into()))
                .and_then(|id| id_from(id, "the item's responsible"))
        };
        let to = match config.to.as_deref().unwrap_or("responsible") {
            "responsible" => NotifyRecipient::User(responsible()?),
            "supervisor" => NotifyRecipient::SupervisorOf(responsible()?),
            "user" => {
                let user = config
                    .user_id
                    .ok_or_else(|| ActionError::InvalidConfig("user_id is required when to is user".into()))?;
                NotifyRecipient::User(id_from(&user, "user_id")?)
            }
            other => {
                return Err(ActionError::InvalidConfig(format!(
                    "to {other} is not responsible, user or supervisor"
                )));
            }
        };
        let (notification_id, user_id) = ctx.notify(to, &config.message)?;
        ctx.log(Level::Info, &format!("notified user {user_id}"));
        Ok(json!({"notification_id": notification_id, "user_id": user_id}))
    }
}

stagewright_sdk::export_action!(Notify);
