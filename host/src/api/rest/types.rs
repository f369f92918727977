//! `crm.type.*`: smart-process types, in Bitrix24's camelCase shapes. Only CRM administrators
//! may add, change or delete them, as in Bitrix24.

use serde_json::{Map, Value, json};

use super::directory::require_admin;
use super::{Answer, AppState, unknown_method};
use crate::api::{ApiError, params};
use crate::crm::types::{self, CrmType, SETTINGS, TypeChanges};
use crate::model::rest_datetime;

/// Answers one `crm.type.*` call.
pub(super) async fn dispatch(
    app: &AppState,
    user: i64,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Answer, ApiError> {
    let now = app.clock.now();
    match method {
        "crm.type.get" => {
            let mut conn = app.store.pool().acquire().await?;
            let found = types::get(&mut conn, params::id(p, "id")?).await?;
            Ok(json!({"type": type_json(&found)}).into())
        }
        "crm.type.list" => {
            let mut conn = app.store.pool().acquire().await?;
            let all: Vec<Value> = types::list(&mut conn).await?.iter().map(type_json).collect();
            Ok(Answer {
                total: Some(all.len() as i64),
                result: json!({"types": all}),
                next: None,
            })
        }
        "crm.type.add" => {
            require_admin(app, user).await?;
            let changes = type_changes(p)?;
            let mut tx = app.store.write().await?;
            let added = types::add(&mut tx, &changes, user, now).await?;
            tx.commit().await?;
            Ok(json!({"type": type_json(&added)}).into())
        }
        "crm.type.update" => {
            require_admin(app, user).await?;
            let changes = type_changes(p)?;
            let mut tx = app.store.write().await?;
            let updated = types::update(&mut tx, params::id(p, "id")?, &changes, user, now).await?;
            tx.commit().await?;
            Ok(json!({"type": type_json(&updated)}).into())
        }
        "crm.type.delete" => {
            require_admin(app, user).await?;
            let mut tx = app.store.write().await?;
            types::delete(&mut tx, params::id(p, "id")?).await?;
            tx.commit().await?;
            Ok(json!([]).into())
        }
        _ => Err(unknown_method()),
    }
}

/// Fields Bitrix24 takes for a type that Stagewright has no use for (links between types,
/// digital workplaces): accepted so existing clients work, and not stored.
const IGNORED_FIELDS: &[&str] = &[
    "relations",
    "linkedUserFields",
    "customSectionId",
    "customSections",
    "isExternal",
];

fn type_changes(p: &Map<String, Value>) -> Result<TypeChanges, ApiError> {
    let fields = params::object(p, "fields")?;
    let mut changes = TypeChanges {
        entity_type_id: params::optional_int(&fields, "entityTypeId")?,
        title: params::optional_str(&fields, "title")?,
        settings: Map::new(),
    };
    for (name, value) in fields {
        let known = ["entityTypeId", "title"].contains(&name.as_str()) || IGNORED_FIELDS.contains(&name.as_str());
        if !known {
            changes.settings.insert(name, value);
        }
    }
    Ok(changes)
}

fn type_json(t: &CrmType) -> Value {
    let mut out = json!({
        "id": t.id,
        "entityTypeId": t.entity_type.type_id(),
        "title": t.title,
        "code": Value::Null,
        "createdBy": t.created_by,
        "createdTime": rest_datetime(t.created_at),
        "updatedBy": t.updated_by,
        "updatedTime": rest_datetime(t.updated_at),
        "relations": {"parent": [], "child": []},
        "linkedUserFields": {},
        "customSectionId": Value::Null,
        "customSections": [],
    });
    for (name, _) in SETTINGS {
        out[*name] = json!(if t.setting(name) { "Y" } else { "N" });
    }
    out
}
