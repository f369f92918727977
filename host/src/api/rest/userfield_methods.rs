//! `crm.{lead,deal,contact,company}.userfield.{add,get,list,update,delete}` in Bitrix24's shapes.

use serde_json::{Map, Value, json};

use super::{Answer, AppState, unknown_method};
use crate::api::{ApiError, params};
use crate::crm::userfields::{self, ListChange, UserFieldChanges, userfield_entity_id};
use crate::model::EntityType;
use crate::model::userfield::{UserField, UserType};

/// Answers one `crm.{type}.userfield.*` call; `action` is `userfield.add` etc.
pub(super) async fn dispatch(
    app: &AppState,
    entity_type: EntityType,
    action: &str,
    p: &Map<String, Value>,
) -> Result<Answer, ApiError> {
    match action {
        "userfield.add" => add(app, entity_type, p).await,
        "userfield.get" => get(app, entity_type, p).await,
        "userfield.list" => list(app, entity_type, p).await,
        "userfield.update" => update(app, entity_type, p).await,
        "userfield.delete" => delete(app, entity_type, p).await,
        _ => Err(unknown_method()),
    }
}

fn flag(value: bool) -> &'static str {
    if value { "Y" } else { "N" }
}

fn userfield_json(entity_type: EntityType, field: &UserField) -> Value {
    let list: Vec<Value> = field
        .list
        .iter()
        .map(|item| {
            json!({
                "ID": item.id.to_string(),
                "SORT": item.sort.to_string(),
                "VALUE": item.value,
                "DEF": flag(item.def),
                "XML_ID": item.xml_id,
            })
        })
        .collect();
    let mut record = json!({
        "ID": field.id.to_string(),
        "ENTITY_ID": userfield_entity_id(entity_type),
        "FIELD_NAME": field.field_name,
        "USER_TYPE_ID": field.user_type.as_str(),
        "XML_ID": field.xml_id,
        "SORT": field.sort.to_string(),
        "MULTIPLE": flag(field.multiple),
        "MANDATORY": flag(field.mandatory),
        "SHOW_FILTER": "N",
        "SHOW_IN_LIST": "Y",
        "EDIT_IN_LIST": "Y",
        "IS_SEARCHABLE": "N",
        "SETTINGS": field.settings,
        "EDIT_FORM_LABEL": field.label,
        "LIST_COLUMN_LABEL": field.label,
        "LIST_FILTER_LABEL": field.label,
    });
    if field.user_type == UserType::Enumeration {
        record["LIST"] = Value::Array(list);
    }
    record
}

/// A label given as text or, as Bitrix24 allows, per language (`{"en": ...}`; English first).
fn label(fields: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    for name in ["EDIT_FORM_LABEL", "LABEL", "LIST_COLUMN_LABEL", "LIST_FILTER_LABEL"] {
        match params::get(fields, name) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => return Ok(Some(s.clone())),
            Some(Value::Object(by_language)) => {
                let text = by_language
                    .get("en")
                    .or_else(|| by_language.values().next())
                    .and_then(Value::as_str);
                return Ok(text.map(str::to_string));
            }
            Some(other) => return Err(ApiError::invalid(format!("{name} must be text, not {other}"))),
        }
    }
    Ok(None)
}

fn list_changes(fields: &Map<String, Value>) -> Result<Vec<ListChange>, ApiError> {
    let items: Vec<Value> = match params::get(fields, "LIST") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Object(items)) => items.values().cloned().collect(),
        Some(other) => return Err(ApiError::invalid(format!("LIST must be a list, not {other}"))),
    };
    items
        .iter()
        .map(|item| {
            let item = item
                .as_object()
                .ok_or_else(|| ApiError::invalid("each LIST item must be an object"))?;
            params::only(item, &["ID", "VALUE", "SORT", "DEF", "XML_ID", "DEL"])?;
            Ok(ListChange {
                id: params::optional_int(item, "ID")?,
                value: params::optional_str(item, "VALUE")?,
                sort: params::optional_int(item, "SORT")?,
                def: params::optional_flag(item, "DEF")?,
                xml_id: params::optional_str(item, "XML_ID")?,
                delete: params::optional_flag(item, "DEL")?.unwrap_or(false),
            })
        })
        .collect()
}

/// Fields Bitrix24 accepts that only shape its own UI; taken and not stored.
const UI_ONLY: &[&str] = &[
    "SHOW_FILTER",
    "SHOW_IN_LIST",
    "EDIT_IN_LIST",
    "IS_SEARCHABLE",
    "ERROR_MESSAGE",
    "HELP_MESSAGE",
];

fn changes(fields: &Map<String, Value>, adding: bool) -> Result<UserFieldChanges, ApiError> {
    let mut allowed = vec![
        "MANDATORY",
        "SORT",
        "XML_ID",
        "LABEL",
        "EDIT_FORM_LABEL",
        "LIST_COLUMN_LABEL",
        "LIST_FILTER_LABEL",
        "SETTINGS",
        "LIST",
    ];
    allowed.extend_from_slice(UI_ONLY);
    if adding {
        allowed.extend_from_slice(&["FIELD_NAME", "USER_TYPE_ID", "MULTIPLE"]);
    }
    params::only(fields, &allowed)?;
    Ok(UserFieldChanges {
        field_name: params::optional_str(fields, "FIELD_NAME")?,
        user_type: params::optional_str(fields, "USER_TYPE_ID")?
            .map(|t| UserType::parse(&t))
            .transpose()?,
        multiple: params::optional_flag(fields, "MULTIPLE")?,
        mandatory: params::optional_flag(fields, "MANDATORY")?,
        sort: params::optional_int(fields, "SORT")?,
        xml_id: params::optional_str(fields, "XML_ID")?,
        label: label(fields)?,
        settings: params::get(fields, "SETTINGS").filter(|v| !v.is_null()).cloned(),
        list: list_changes(fields)?,
    })
}

async fn add(app: &AppState, entity_type: EntityType, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let new = changes(&params::object(p, "fields")?, true)?;
    let mut tx = app.store.write().await?;
    let field = userfields::add(&mut tx, entity_type, &new).await?;
    tx.commit().await?;
    Ok(json!(field.id).into())
}

async fn get(app: &AppState, entity_type: EntityType, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    let field = userfields::userfield(&mut conn, entity_type, params::id(p, "id")?).await?;
    Ok(userfield_json(entity_type, &field).into())
}

/// Lists the type's custom fields; `filter` compares FIELD_NAME, USER_TYPE_ID, XML_ID,
/// MULTIPLE or MANDATORY for equality.
async fn list(app: &AppState, entity_type: EntityType, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let filter = params::object(p, "filter")?;
    params::only(
        &filter,
        &["FIELD_NAME", "USER_TYPE_ID", "XML_ID", "MULTIPLE", "MANDATORY", "ID"],
    )?;
    let mut conn = app.store.pool().acquire().await?;
    let rows: Vec<Value> = userfields::userfields(&mut conn, entity_type)
        .await?
        .iter()
        .map(|field| userfield_json(entity_type, field))
        .filter(|record| {
            filter.iter().all(|(key, wanted)| {
                let wanted = wanted.as_str().map_or_else(|| wanted.to_string(), str::to_string);
                record[key.to_ascii_uppercase()].as_str() == Some(wanted.as_str())
            })
        })
        .collect();
    Ok(Answer {
        total: Some(rows.len() as i64),
        result: Value::Array(rows),
        next: None,
    })
}

async fn update(app: &AppState, entity_type: EntityType, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let id = params::id(p, "id")?;
    let changes = changes(&params::object(p, "fields")?, false)?;
    let mut tx = app.store.write().await?;
    userfields::update(&mut tx, entity_type, id, &changes).await?;
    tx.commit().await?;
    Ok(json!(true).into())
}

async fn delete(app: &AppState, entity_type: EntityType, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let id = params::id(p, "id")?;
    let mut tx = app.store.write().await?;
    userfields::delete(&mut tx, entity_type, id).await?;
    tx.commit().await?;
    Ok(json!(true).into())
}
