//! Built-in action "create-spa-item": creates an item of a smart process, e.g. a contract when a
//! deal reaches contract signing.

use serde::Deserialize;
use stagewright_sdk::{Action, ActionError, Capability, Context, Level, Manifest, Value, json};

/// The robot's configuration; values may be templates, resolved before the run.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The smart process's entityTypeId.
    entity_type_id: i64,
    /// The new item's title.
    title: String,
    /// Its responsible user; the current item's when left out.
    #[serde(default)]
    responsible_id: Option<Value>,
    /// Its pipeline; the smart process's default when left out.
    #[serde(default)]
    category_id: Option<i64>,
    /// Its stage; the pipeline's first when left out.
    #[serde(default)]
    stage_id: Option<String>,
    /// Its amount.
    #[serde(default)]
    opportunity: Option<Value>,
    /// Further fields by Bitrix24 name (`CURRENCY_ID`, `UF_CRM_...`).
    #[serde(default)]
    fields: serde_json::Map<String, Value>,
}

/// Creates one smart-process item.
pub struct CreateSpaItem;

impl Action for CreateSpaItem {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "create-spa-item",
            "Create smart process item",
            env!("CARGO_PKG_VERSION"),
            "Creates an item of a smart process, with its title, responsible, pipeline, stage and amount.",
        )
        .config_schema(json!({
            "type": "object",
            "required": ["entity_type_id", "title"],
            "additionalProperties": false,
            "properties": {
                "entity_type_id": {"type": "integer", "title": "Smart process", "description": "The smart process's entityTypeId (crm.type.list)."},
                "title": {"type": "string", "minLength": 1, "title": "Title", "description": "The new item's title; templates allowed."},
                "responsible_id": {"type": ["integer", "string"], "title": "Responsible", "description": "A user id or template; the current item's responsible when left out."},
                "category_id": {"type": "integer", "title": "Pipeline", "description": "The pipeline; the default one when left out."},
                "stage_id": {"type": "string", "title": "Stage", "description": "A stage of that pipeline (DT1032_7:NEW); the first when left out."},
                "opportunity": {"type": ["number", "string"], "title": "Amount", "description": "The amount; templates allowed."},
                "fields": {"type": "object", "title": "Other fields", "description": "More fields by Bitrix24 name."}
            }
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {"id": {"type": "integer", "title": "New item id"}, "entity_type_id": {"type": "integer"}}
        }))
        .capability(Capability::Write("dynamic_*".into()))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let mut fields = config.fields;
        fields.insert("TITLE".into(), json!(config.title));
        let responsible = config
            .responsible_id
            .or_else(|| ctx.field("ASSIGNED_BY_ID").cloned())
            .unwrap_or(Value::Null);
        fields.insert("ASSIGNED_BY_ID".into(), responsible);
        if let Some(category) = config.category_id {
            fields.insert("CATEGORY_ID".into(), json!(category));
        }
        if let Some(stage) = config.stage_id {
            fields.insert("STAGE_ID".into(), json!(stage));
        }
        if let Some(amount) = config.opportunity {
            fields.insert("OPPORTUNITY".into(), amount);
        }
        let entity_type = format!("dynamic_{}", config.entity_type_id);
        let created = ctx.create(&entity_type, &Value::Object(fields))?;
        ctx.log(Level::Info, &format!("created {entity_type} item {}", created.id));
        Ok(json!({"id": created.id, "entity_type_id": config.entity_type_id}))
    }
}

stagewright_sdk::export_action!(CreateSpaItem);
