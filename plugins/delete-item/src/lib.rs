//! Built-in action "delete-item": deletes the item the robot runs for (e.g. spam leads). Robots
//! of the stage still waiting for it are cancelled, since their item is gone.

use serde::Deserialize;
use stagewright_sdk::{Action, ActionError, Context, Level, Manifest, Value, json};

/// The robot takes no settings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

/// Deletes the current item.
pub struct DeleteItem;

impl Action for DeleteItem {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "delete-item",
            "Delete item",
            env!("CARGO_PKG_VERSION"),
            "Deletes the item the robot runs for.",
        )
        .config_schema(json!({"type": "object", "additionalProperties": false, "properties": {}}))
        .returns_schema(json!({"type": "object"}))
        .write_every_item_type()
    }

    fn run(ctx: &Context, _config: Config) -> Result<Value, ActionError> {
        let item = &ctx.item().ref_;
        ctx.delete(item)?;
        ctx.log(Level::Info, &format!("deleted {} {}", item.entity_type, item.id));
        Ok(json!({}))
    }
}

stagewright_sdk::export_action!(DeleteItem);
