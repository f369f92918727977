//! Custom fields (`UF_CRM_*`) an admin adds to an entity type at run time, as Bitrix24's
//! `crm.*.userfield.*` do. Their values live in the item's JSON beside the standard fields, in a
//! canonical form per type (numbers as numbers, dates as UTC ISO text), so filters and ordering
//! compare them correctly; REST shows them as Bitrix24 does, as text.

use crate::store;
use serde_json::Value;

use crate::model::userfield::{ListItem, PREFIX, UserField, UserType};
use crate::model::{CrmError, EntityType};
use crate::store::{Backend, Conn, Store, Tx};

/// Bitrix24's ENTITY_ID of an entity type's custom fields: `CRM_DEAL`, `CRM_LEAD`...
pub fn userfield_entity_id(entity_type: EntityType) -> String {
    format!("CRM_{}", entity_type.to_string().to_ascii_uppercase())
}

fn userfield_from_row(row: &store::Row) -> Result<UserField, CrmError> {
    let json = |column: &str| -> Result<Value, CrmError> {
        let text: String = row.try_get(column)?;
        serde_json::from_str(&text).map_err(|e| CrmError::Invalid(format!("stored {column} is corrupt: {e}")))
    };
    Ok(UserField {
        id: row.try_get("id")?,
        field_name: row.try_get("field_name")?,
        user_type: UserType::parse(&row.try_get::<String, _>("user_type")?)?,
        multiple: row.try_get::<i64, _>("multiple")? != 0,
        mandatory: row.try_get::<i64, _>("mandatory")? != 0,
        sort: row.try_get("sort")?,
        xml_id: row.try_get("xml_id")?,
        label: row.try_get("label")?,
        settings: json("settings")?,
        list: serde_json::from_value(json("list")?)
            .map_err(|e| CrmError::Invalid(format!("stored list is corrupt: {e}")))?,
    })
}

/// The custom fields of an entity type, by sort then id.
pub async fn userfields(conn: &mut Conn, entity_type: EntityType) -> Result<Vec<UserField>, CrmError> {
    let rows = store::query("SELECT * FROM userfields WHERE entity_type = $1 ORDER BY sort, id")
        .bind(entity_type)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(userfield_from_row).collect()
}

/// One custom field of an entity type.
pub async fn userfield(conn: &mut Conn, entity_type: EntityType, id: i64) -> Result<UserField, CrmError> {
    let row = store::query("SELECT * FROM userfields WHERE entity_type = $1 AND id = $2")
        .bind(entity_type)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| CrmError::NotFound(format!("custom field {id} of {entity_type}")))?;
    userfield_from_row(&row)
}

/// A new list item, or a change to one (`id` set) or its removal (`delete`).
#[derive(Debug, Clone, Default)]
pub struct ListChange {
    /// The item to change; `None` adds one.
    pub id: Option<i64>,
    /// Its text.
    pub value: Option<String>,
    /// Its position.
    pub sort: Option<i64>,
    /// Whether it is preselected.
    pub def: Option<bool>,
    /// An external code.
    pub xml_id: Option<String>,
    /// Remove the item (Bitrix24's `DEL: Y`).
    pub delete: bool,
}

/// What `crm.*.userfield.add` or `update` sets; `None` keeps the current value. Name, type and
/// multiplicity are fixed once the field exists, since stored values depend on them.
#[derive(Debug, Clone, Default)]
pub struct UserFieldChanges {
    /// The name, with or without `UF_CRM_` (add only).
    pub field_name: Option<String>,
    /// The type (add only).
    pub user_type: Option<UserType>,
    /// Multiple values (add only).
    pub multiple: Option<bool>,
    /// Mandatory.
    pub mandatory: Option<bool>,
    /// Position.
    pub sort: Option<i64>,
    /// External code.
    pub xml_id: Option<String>,
    /// Label.
    pub label: Option<String>,
    /// Type-specific settings.
    pub settings: Option<Value>,
    /// Changes to an enumeration's list.
    pub list: Vec<ListChange>,
}

/// `UF_CRM_` plus up to 13 of A-Z, 0-9 and `_`, as Bitrix24 allows.
fn checked_field_name(name: &str) -> Result<String, CrmError> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix(PREFIX).unwrap_or(&upper);
    if bare.is_empty() || bare.len() > 13 || !bare.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(CrmError::Invalid(format!(
            "FIELD_NAME '{name}' must be 1 to 13 of A-Z, 0-9 and _ after {PREFIX}"
        )));
    }
    Ok(format!("{PREFIX}{bare}"))
}

/// Adds a custom field.
pub async fn add(tx: &mut Tx, entity_type: EntityType, new: &UserFieldChanges) -> Result<UserField, CrmError> {
    let field_name = checked_field_name(
        new.field_name
            .as_deref()
            .ok_or_else(|| CrmError::Invalid("FIELD_NAME is required".into()))?,
    )?;
    let user_type = new
        .user_type
        .ok_or_else(|| CrmError::Invalid("USER_TYPE_ID is required".into()))?;
    let multiple = new.multiple.unwrap_or(false);
    if multiple && user_type == UserType::Boolean {
        return Err(CrmError::Invalid("a boolean field cannot be multiple".into()));
    }
    let taken: Option<i64> =
        store::query_scalar("SELECT id FROM userfields WHERE entity_type = $1 AND field_name = $2")
            .bind(entity_type)
            .bind(&field_name)
            .fetch_optional(&mut *tx)
            .await?;
    if taken.is_some() {
        return Err(CrmError::Invalid(format!(
            "{field_name} already exists for {entity_type}"
        )));
    }
    let id = Store::next_id(tx, "userfield").await?;
    store::query(
        "INSERT INTO userfields (id, entity_type, field_name, user_type, multiple, mandatory, sort, xml_id, label, settings, list)
         VALUES ($1, $2, $3, $4, $5, 0, 100, NULL, $6, '{}', '[]')",
    )
    .bind(id)
    .bind(entity_type)
    .bind(&field_name)
    .bind(user_type.as_str())
    .bind(i64::from(multiple))
    .bind(&field_name)
    .execute(&mut *tx)
    .await?;
    update(tx, entity_type, id, new).await
}

/// Changes a custom field's label, sort, mandatory flag, settings or list.
pub async fn update(
    tx: &mut Tx,
    entity_type: EntityType,
    id: i64,
    changes: &UserFieldChanges,
) -> Result<UserField, CrmError> {
    let current = userfield(tx, entity_type, id).await?;
    if !changes.list.is_empty() && current.user_type != UserType::Enumeration {
        return Err(CrmError::Invalid("only enumeration fields have a LIST".into()));
    }
    let settings = match &changes.settings {
        Some(Value::Object(settings)) => Value::Object(settings.clone()),
        Some(other) => return Err(CrmError::Invalid(format!("SETTINGS must be an object, not {other}"))),
        None => current.settings.clone(),
    };
    let list = apply_list_changes(tx, &current.list, &changes.list).await?;
    let sort = changes.sort.unwrap_or(current.sort);
    if sort < 0 {
        return Err(CrmError::Invalid("SORT must not be negative".into()));
    }
    store::query(
        "UPDATE userfields SET mandatory = $1, sort = $2, xml_id = $3, label = $4, settings = $5, list = $6 WHERE id = $7",
    )
    .bind(i64::from(changes.mandatory.unwrap_or(current.mandatory)))
    .bind(sort)
    .bind(changes.xml_id.clone().or(current.xml_id))
    .bind(changes.label.as_deref().unwrap_or(&current.label).trim())
    .bind(settings.to_string())
    .bind(serde_json::to_string(&list).map_err(|e| CrmError::Invalid(e.to_string()))?)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    userfield(tx, entity_type, id).await
}

async fn apply_list_changes(
    tx: &mut Tx,
    current: &[ListItem],
    changes: &[ListChange],
) -> Result<Vec<ListItem>, CrmError> {
    let mut list = current.to_vec();
    for change in changes {
        match change.id {
            Some(id) => {
                let at = list
                    .iter()
                    .position(|item| item.id == id)
                    .ok_or_else(|| CrmError::Invalid(format!("LIST item {id} does not exist")))?;
                if change.delete {
                    list.remove(at);
                    continue;
                }
                let item = &mut list[at];
                if let Some(value) = change.value.as_deref().map(str::trim) {
                    if value.is_empty() {
                        return Err(CrmError::Invalid("a LIST item's VALUE cannot be empty".into()));
                    }
                    item.value = value.to_string();
                }
                item.sort = change.sort.unwrap_or(item.sort);
                item.def = change.def.unwrap_or(item.def);
                item.xml_id = change.xml_id.clone().or(item.xml_id.take());
            }
            None => {
                let Some(value) = change.value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
                    continue;
                };
                list.push(ListItem {
                    id: Store::next_id(tx, "userfield_list_item").await?,
                    value: value.to_string(),
                    sort: change.sort.unwrap_or(0),
                    def: change.def.unwrap_or(false),
                    xml_id: change.xml_id.clone(),
                });
            }
        }
    }
    list.sort_by_key(|item| (item.sort, item.id));
    Ok(list)
}

/// Deletes a custom field and its values from every item of the type.
pub async fn delete(tx: &mut Tx, entity_type: EntityType, id: i64) -> Result<(), CrmError> {
    let doomed = userfield(tx, entity_type, id).await?;
    let strip = match tx.backend() {
        Backend::Sqlite => "UPDATE items SET fields = json_remove(fields, '$.' || $1) WHERE entity_type = $2",
        Backend::Postgres => "UPDATE items SET fields = (fields::jsonb - $1)::text WHERE entity_type = $2",
    };
    store::query(strip)
        .bind(&doomed.field_name)
        .bind(entity_type)
        .execute(&mut *tx)
        .await?;
    store::query("DELETE FROM userfields WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
