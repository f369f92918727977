//! Built-in action "edit-item": sets fields of the item itself, or of its linked contact or
//! company (Bitrix24's "Edit item", "Change contact" and "Change company").

use serde::Deserialize;
use stagewright_sdk::{Action, ActionError, Context, ItemRef, Level, Manifest, Value, id_from, json};

/// The robot's configuration; values may hold templates.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// item (the default), contact or company.
    #[serde(default)]
    target: Option<String>,
    /// Fields to set by Bitrix24 name, custom ones included.
    fields: serde_json::Map<String, Value>,
}

/// Edits one item.
pub struct EditItem;

/// The linked record's reference: the item's CONTACT_ID or COMPANY_ID (a contact's company too).
fn linked(ctx: &Context, entity_type: &str, field: &str) -> Result<ItemRef, ActionError> {
    let id = ctx
        .field(field)
        .filter(|v| !v.is_null())
        .ok_or_else(|| ActionError::Failed(format!("the item has no {entity_type}: {field} is empty")))?;
    Ok(ItemRef {
        entity_type: entity_type.into(),
        id: id_from(id, field)?,
    })
}

impl Action for EditItem {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "edit-item",
            "Edit item",
            env!("CARGO_PKG_VERSION"),
            "Sets fields of the item, or of its linked contact or company.",
        )
        .config_schema(json!({
            "type": "object",
            "required": ["fields"],
            "additionalProperties": false,
            "properties": {
                "target": {"type": "string", "enum": ["item", "contact", "company"], "title": "Edit", "description": "The item itself when left out, or its linked contact or company."},
                "fields": {"type": "object", "minProperties": 1, "title": "Fields", "description": "Fields by Bitrix24 name (TITLE, OPPORTUNITY, UF_CRM_...); templates allowed."}
            }
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {"entity_type": {"type": "string"}, "id": {"type": "integer"}}
        }))
        .write_every_item_type()
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let target = match config.target.as_deref().unwrap_or("item") {
            "item" => ctx.item().ref_.clone(),
            "contact" => linked(ctx, "contact", "CONTACT_ID")?,
            "company" => linked(ctx, "company", "COMPANY_ID")?,
            other => {
                return Err(ActionError::InvalidConfig(format!(
                    "target {other} is not item, contact or company"
                )));
            }
        };
        ctx.update(&target, &Value::Object(config.fields))?;
        ctx.log(Level::Info, &format!("edited {} {}", target.entity_type, target.id));
        Ok(json!({"entity_type": target.entity_type, "id": target.id}))
    }
}

stagewright_sdk::export_action!(EditItem);
