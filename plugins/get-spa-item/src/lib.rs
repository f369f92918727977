//! Built-in action "get-spa-item": reads fields of the smart-process item a filter finds and
//! returns them, for later robots' templates (`{=r_…:OPPORTUNITY}`).

use serde::Deserialize;
use stagewright_sdk::{Action, ActionError, Capability, Context, Manifest, Value, json};

/// The robot's configuration; values may be templates, resolved before the run.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The smart process's entityTypeId.
    entity_type_id: i64,
    /// A Bitrix24 list filter; the first match by id is read.
    filter: serde_json::Map<String, Value>,
    /// The fields to return; every field when empty.
    #[serde(default)]
    select: Vec<String>,
}

/// Reads one smart-process item.
pub struct GetSpaItem;

impl Action for GetSpaItem {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "get-spa-item",
            "Get smart process item information",
            env!("CARGO_PKG_VERSION"),
            "Returns selected fields of the smart-process item a filter finds, for later robots to use.",
        )
        .config_schema(json!({
            "type": "object",
            "required": ["entity_type_id", "filter"],
            "additionalProperties": false,
            "properties": {
                "entity_type_id": {"type": "integer", "title": "Smart process", "description": "The smart process's entityTypeId."},
                "filter": {"type": "object", "minProperties": 1, "title": "Find by", "description": "A list filter; the first match by id is read."},
                "select": {"type": "array", "items": {"type": "string"}, "title": "Fields", "description": "Fields to return (ID always); all when empty."}
            }
        }))
        .returns_schema(json!({
            "type": "object",
            "description": "The selected fields by Bitrix24 name, ID and STAGE_ID included."
        }))
        .capability(Capability::Read("dynamic_*".into()))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let entity_type = format!("dynamic_{}", config.entity_type_id);
        let item = ctx.first(&entity_type, &Value::Object(config.filter))?.ok_or_else(|| {
            ActionError::Failed(format!(
                "no item of smart process {} matches the filter",
                config.entity_type_id
            ))
        })?;
        let mut fields: serde_json::Map<String, Value> = serde_json::from_str(&item.fields)
            .map_err(|e| ActionError::Failed(format!("the host sent fields that are not JSON: {e}")))?;
        fields.insert("ID".into(), json!(item.ref_.id));
        fields.insert("STAGE_ID".into(), json!(item.stage_id));
        fields.insert("CATEGORY_ID".into(), json!(item.category_id));
        if !config.select.is_empty() {
            fields.retain(|name, _| name == "ID" || config.select.contains(name));
        }
        Ok(Value::Object(fields))
    }
}

stagewright_sdk::export_action!(GetSpaItem);
