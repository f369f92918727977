//! Built-in action "delete-spa-item": deletes a smart-process item by id.

use serde::Deserialize;
use stagewright_sdk::{Action, ActionError, Capability, Context, ItemRef, Level, Manifest, Value, json};

/// The robot's configuration; the id may be a template (`{=r_…:id}`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The smart process's entityTypeId.
    entity_type_id: i64,
    /// The item's id.
    id: Value,
}

/// Deletes one smart-process item.
pub struct DeleteSpaItem;

impl Action for DeleteSpaItem {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "delete-spa-item",
            "Delete smart process item",
            env!("CARGO_PKG_VERSION"),
            "Deletes a smart-process item by id.",
        )
        .config_schema(json!({
            "type": "object",
            "required": ["entity_type_id", "id"],
            "additionalProperties": false,
            "properties": {
                "entity_type_id": {"type": "integer", "title": "Smart process", "description": "The smart process's entityTypeId."},
                "id": {"type": ["integer", "string"], "title": "Item id", "description": "The id, or a template giving it."}
            }
        }))
        .returns_schema(json!({"type": "object", "properties": {"id": {"type": "integer"}}}))
        .capability(Capability::Write("dynamic_*".into()))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let id = match &config.id {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| ActionError::InvalidConfig(format!("id {} is not an item id", config.id)))?;
        let item = ItemRef {
            entity_type: format!("dynamic_{}", config.entity_type_id),
            id,
        };
        ctx.delete(&item)?;
        ctx.log(Level::Info, &format!("deleted {} item {id}", item.entity_type));
        Ok(json!({"id": id}))
    }
}

stagewright_sdk::export_action!(DeleteSpaItem);
