//! Built-in action "add-comment": adds a comment to the item's timeline.

use serde::Deserialize;
use stagewright_sdk::{Action, ActionError, Capability, Context, Manifest, Value, json};

/// The robot's configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The comment's text; templates are resolved by the host before the run.
    text: String,
}

/// Writes one timeline comment.
pub struct AddComment;

impl Action for AddComment {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "add-comment",
            "Add comment",
            env!("CARGO_PKG_VERSION"),
            "Adds a comment to the item's timeline.",
        )
        .config_schema(json!({
            "type": "object",
            "required": ["text"],
            "additionalProperties": false,
            "properties": {
                "text": {"type": "string", "minLength": 1, "title": "Comment", "description": "Text of the comment."}
            }
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {"comment_id": {"type": "integer"}}
        }))
        .capability(Capability::Write("deal".into()))
        .capability(Capability::Write("lead".into()))
        .capability(Capability::Write("dynamic_*".into()))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        if config.text.trim().is_empty() {
            return Err(ActionError::InvalidConfig("text must not be empty".into()));
        }
        let id = ctx.add_comment(&ctx.item().ref_, &config.text)?;
        Ok(json!({"comment_id": id}))
    }
}

stagewright_sdk::export_action!(AddComment);
