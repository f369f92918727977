//! Built-in action "edit-spa-item": sets fields of the smart-process item a filter finds (the
//! first by id when several match; filter by ID to be exact).

use serde::Deserialize;
use stagewright_sdk::{Action, ActionError, Capability, Context, Level, Manifest, Value, json};

/// The robot's configuration; values may be templates, resolved before the run.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The smart process's entityTypeId.
    entity_type_id: i64,
    /// A Bitrix24 list filter (`{"ID": 5}`, `{"TITLE": "Contract 12"}`).
    filter: serde_json::Map<String, Value>,
    /// The fields to set, by Bitrix24 name; `STAGE_ID` moves the item.
    fields: serde_json::Map<String, Value>,
}

/// Changes one smart-process item.
pub struct EditSpaItem;

impl Action for EditSpaItem {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "edit-spa-item",
            "Edit smart process item",
            env!("CARGO_PKG_VERSION"),
            "Sets fields of the smart-process item a filter finds; the first by id when several match.",
        )
        .config_schema(json!({
            "type": "object",
            "required": ["entity_type_id", "filter", "fields"],
            "additionalProperties": false,
            "properties": {
                "entity_type_id": {"type": "integer", "title": "Smart process", "description": "The smart process's entityTypeId."},
                "filter": {"type": "object", "minProperties": 1, "title": "Find by", "description": "A list filter; ID is the surest."},
                "fields": {"type": "object", "minProperties": 1, "title": "Set", "description": "Fields to set by Bitrix24 name; templates allowed."}
            }
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {"id": {"type": "integer", "title": "Edited item id"}}
        }))
        .capability(Capability::Write("dynamic_*".into()))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let entity_type = format!("dynamic_{}", config.entity_type_id);
        let item = ctx.first(&entity_type, &Value::Object(config.filter))?.ok_or_else(|| {
            ActionError::Failed(format!(
                "no item of smart process {} matches the filter",
                config.entity_type_id
            ))
        })?;
        ctx.update(&item.ref_, &Value::Object(config.fields))?;
        ctx.log(Level::Info, &format!("edited {entity_type} item {}", item.ref_.id));
        Ok(json!({"id": item.ref_.id}))
    }
}

stagewright_sdk::export_action!(EditSpaItem);
