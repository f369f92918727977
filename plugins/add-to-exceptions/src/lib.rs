//! Built-in action "add-to-exceptions": puts the item's phones and emails on the repeat-lead
//! exception list (Bitrix24's "Add to exceptions"), so that later leads from them are not taken
//! for repeat leads: for a stage where spam or the company's own numbers end up.

use serde::Deserialize;
use stagewright_sdk::{Action, ActionError, Capability, Context, Level, Manifest, Value, json};

/// The robot's configuration; the comment may hold templates.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Why the values are listed, kept with each of them.
    #[serde(default)]
    comment: Option<String>,
}

/// Lists the item's phones and emails as exceptions.
pub struct AddToExceptions;

impl Action for AddToExceptions {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "add-to-exceptions",
            "Add to exceptions",
            env!("CARGO_PKG_VERSION"),
            "Puts the item's phones and emails (or its client's) on the repeat-lead exception list.",
        )
        .read_every_item_type()
        .capability(Capability::Write("exceptions".into()))
            .config_schema(json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "comment": {"type": "string", "title": "Comment", "description": "Why the values are listed, kept with each of them; templates allowed."}
                }
            }))
            .returns_schema(json!({
                "type": "object",
                "properties": {"added": {"type": "integer", "title": "Values added", "description": "Phones and emails that were not on the list yet."}}
            }))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let item = &ctx.item().ref_;
        let added = ctx.add_to_exceptions(item, config.comment.as_deref().unwrap_or_default())?;
        ctx.log(
            Level::Info,
            &format!(
                "{added} phones and emails of {} {} added to the exceptions",
                item.entity_type, item.id
            ),
        );
        Ok(json!({"added": added}))
    }
}

stagewright_sdk::export_action!(AddToExceptions);
