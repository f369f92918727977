//! `crm.stagehistory.list`: the stages leads, deals and smart-process items entered, in
//! Bitrix24's shape (`{"result": {"items": [...]}, "total": n, "next": n}`, numbers as numbers).
//! A caller sees the history of the items their role lets them read.

use serde_json::{Map, Value, json};

use super::{Answer, AppState, PAGE_SIZE};
use crate::api::{ApiError, params};
use crate::crm::stage_history::{self, Entry};
use crate::crm::{ids_assigned_to, types};
use crate::model::{EntityType, rest_datetime};
use crate::permissions::Access;

/// Answers `crm.stagehistory.list`.
pub(super) async fn list(app: &AppState, access: &Access, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let entity_type = EntityType::from_type_id(params::id(p, "entityTypeId")?)?;
    let page = params::page(p, PAGE_SIZE)?;
    let filter = params::object(p, "filter")?;
    let order = params::object(p, "order")?;
    let select = params::strings(p, "select")?;
    let mut conn = app.store.pool().acquire().await?;
    types::require(&mut conn, entity_type).await?;
    let scope = access
        .readable_responsibles(entity_type)?
        .map(|users| format!("owner_id IN ({})", ids_assigned_to(conn.backend(), entity_type, &users)));
    let (entries, total) = stage_history::list(&mut conn, entity_type, scope.as_deref(), &filter, &order, page).await?;
    let items = entries
        .iter()
        .map(|entry| selected(entry_json(entity_type, entry), &select))
        .collect();
    Ok(Answer::page(json!({ "items": Value::Array(items) }), total, page))
}

/// An entry as Bitrix24 answers it: leads name the stage STATUS_ and have no pipeline.
fn entry_json(entity_type: EntityType, entry: &Entry) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("ID".into(), json!(entry.id));
    out.insert("TYPE_ID".into(), json!(entry.type_id));
    out.insert("OWNER_ID".into(), json!(entry.owner_id));
    out.insert("CREATED_TIME".into(), json!(rest_datetime(entry.created_at)));
    if entity_type == EntityType::Lead {
        out.insert("STATUS_SEMANTIC_ID".into(), json!(entry.semantics));
        out.insert("STATUS_ID".into(), json!(entry.stage_id));
    } else {
        out.insert("CATEGORY_ID".into(), json!(entry.category_id));
        out.insert("STAGE_SEMANTIC_ID".into(), json!(entry.semantics));
        out.insert("STAGE_ID".into(), json!(entry.stage_id));
    }
    out
}

/// The fields `select` names (every field when it names none, or `*`); ID always.
fn selected(mut entry: Map<String, Value>, select: &[String]) -> Value {
    if !select.is_empty() && !select.iter().any(|s| s == "*") {
        entry.retain(|name, _| name == "ID" || select.iter().any(|s| s.eq_ignore_ascii_case(name)));
    }
    Value::Object(entry)
}
