//! Smart-process (SPA) types: entity types an admin defines at run time (`crm.type.*`). Each
//! has its own entityTypeId, pipelines and stages; its items live beside deals and leads in the
//! shared tables under the name `dynamic_{entityTypeId}`, so every item operation, list filter
//! and robot works on them unchanged.

use crate::store;
use serde_json::{Map, Value};

use crate::clock::Millis;
use crate::model::{CrmError, EntityType, checked_name};
use crate::store::{Conn, Store, Tx};

use super::pipelines::add_category;

/// The feature switches Bitrix24 keeps per type, with their defaults. Stagewright acts on
/// `isCategoriesEnabled` (whether more than the default pipeline may be added); the others are
/// kept and returned so clients that read them see what they wrote.
pub const SETTINGS: &[(&str, bool)] = &[
    ("isCategoriesEnabled", false),
    ("isStagesEnabled", true),
    ("isBeginCloseDatesEnabled", false),
    ("isClientEnabled", false),
    ("isUseInUserfieldEnabled", false),
    ("isLinkWithProductsEnabled", false),
    ("isMycompanyEnabled", false),
    ("isDocumentsEnabled", false),
    ("isSourceEnabled", false),
    ("isObserversEnabled", false),
    ("isRecyclebinEnabled", false),
    ("isAutomationEnabled", false),
    ("isBizProcEnabled", false),
    ("isSetOpenPermissions", true),
    ("isPaymentsEnabled", false),
    ("isCountersEnabled", false),
];

/// A smart-process type.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmType {
    /// Its id among types (`crm.type.get?id=`).
    pub id: i64,
    /// The entity type its items have.
    pub entity_type: EntityType,
    /// Its display name.
    pub title: String,
    /// Every switch of [`SETTINGS`], by name.
    pub settings: Map<String, Value>,
    /// Who created it.
    pub created_by: i64,
    /// When.
    pub created_at: Millis,
    /// Who changed it last.
    pub updated_by: i64,
    /// When.
    pub updated_at: Millis,
}

impl CrmType {
    /// Whether a feature switch is on.
    pub fn setting(&self, name: &str) -> bool {
        self.settings.get(name).and_then(Value::as_bool).unwrap_or(false)
    }
}

/// What `crm.type.add` or `crm.type.update` asks to set; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct TypeChanges {
    /// The entityTypeId to give a new type; chosen when absent. Fixed once created.
    pub entity_type_id: Option<i64>,
    /// The display name; required for a new type.
    pub title: Option<String>,
    /// Feature switches to set, by name from [`SETTINGS`].
    pub settings: Map<String, Value>,
}

fn type_from_row(row: &store::Row) -> Result<CrmType, CrmError> {
    let settings: String = row.try_get("settings")?;
    Ok(CrmType {
        id: row.try_get("id")?,
        entity_type: EntityType::Dynamic(row.try_get("entity_type_id")?),
        title: row.try_get("title")?,
        settings: serde_json::from_str(&settings)
            .map_err(|e| CrmError::Invalid(format!("stored type settings are corrupt: {e}")))?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_by: row.try_get("updated_by")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// One type by its id.
pub async fn get(conn: &mut Conn, id: i64) -> Result<CrmType, CrmError> {
    let row = store::query("SELECT * FROM crm_types WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| CrmError::NotFound(format!("smart process {id}")))?;
    type_from_row(&row)
}

/// One type by its entityTypeId.
pub async fn by_entity_type(conn: &mut Conn, entity_type: EntityType) -> Result<CrmType, CrmError> {
    let row = store::query("SELECT * FROM crm_types WHERE entity_type_id = $1")
        .bind(entity_type.type_id())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| CrmError::NotFound(format!("smart process with entityTypeId {}", entity_type.type_id())))?;
    type_from_row(&row)
}

/// Checks that an entity type exists: always for the built-in ones, for a smart process when
/// its type was created and not deleted.
pub async fn require(conn: &mut Conn, entity_type: EntityType) -> Result<(), CrmError> {
    match entity_type {
        EntityType::Dynamic(_) => by_entity_type(conn, entity_type).await.map(drop),
        _ => Ok(()),
    }
}

/// Every type, oldest first.
pub async fn list(conn: &mut Conn) -> Result<Vec<CrmType>, CrmError> {
    let rows = store::query("SELECT * FROM crm_types ORDER BY id")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(type_from_row).collect()
}

/// The settings after `changes`, each switch a boolean; an unknown switch is refused.
fn merged_settings(current: &Map<String, Value>, changes: &Map<String, Value>) -> Result<Map<String, Value>, CrmError> {
    let mut out = current.clone();
    for (name, value) in changes {
        if !SETTINGS.iter().any(|(known, _)| known == name) {
            return Err(CrmError::Invalid(format!("unknown field {name} for a smart process")));
        }
        let on = match value {
            Value::Bool(b) => *b,
            Value::String(s) if s == "Y" || s == "true" => true,
            Value::String(s) if s == "N" || s == "false" => false,
            other => return Err(CrmError::Invalid(format!("field {name}: expected Y or N, got {other}"))),
        };
        out.insert(name.clone(), Value::Bool(on));
    }
    Ok(out)
}

/// The entityTypeId for a new type: the one asked for if it is valid and free, else the first
/// free id Bitrix24 would hand out.
async fn entity_type_id_for(tx: &mut Tx, asked: Option<i64>) -> Result<i64, CrmError> {
    let taken: Vec<i64> = store::query_scalar("SELECT entity_type_id FROM crm_types")
        .fetch_all(&mut *tx)
        .await?;
    match asked {
        Some(id) if !EntityType::is_dynamic_id(id) => Err(CrmError::Invalid(format!(
            "entityTypeId {id} is outside 128..192 and is not an even number from 1030"
        ))),
        Some(id) if taken.contains(&id) => Err(CrmError::Invalid(format!("entityTypeId {id} is already in use"))),
        Some(id) => Ok(id),
        None => Ok((128..=192)
            .chain((1030..).step_by(2))
            .find(|id| !taken.contains(id))
            .unwrap_or(1030)),
    }
}

/// Creates a type with its default pipeline (Bitrix24's smart-process stages).
pub async fn add(tx: &mut Tx, changes: &TypeChanges, user: i64, now: Millis) -> Result<CrmType, CrmError> {
    let title = checked_name("title", changes.title.as_deref().unwrap_or_default())?;
    let defaults = SETTINGS
        .iter()
        .map(|(name, on)| ((*name).to_string(), Value::Bool(*on)))
        .collect();
    let settings = merged_settings(&defaults, &changes.settings)?;
    let entity_type_id = entity_type_id_for(tx, changes.entity_type_id).await?;
    let id = Store::next_id(tx, "crm_type").await?;
    store::query(
        "INSERT INTO crm_types (id, entity_type_id, title, settings, created_by, created_at, updated_by, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $5, $6)",
    )
    .bind(id)
    .bind(entity_type_id)
    .bind(title)
    .bind(Value::Object(settings).to_string())
    .bind(user)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let entity_type = EntityType::Dynamic(entity_type_id);
    Store::add_native_sequence(tx, &entity_type.to_string()).await?;
    add_category(tx, entity_type, "Default", 10).await?;
    get(tx, id).await
}

/// Renames a type or changes its switches; its entityTypeId stays, since items refer to it.
pub async fn update(tx: &mut Tx, id: i64, changes: &TypeChanges, user: i64, now: Millis) -> Result<CrmType, CrmError> {
    let current = get(tx, id).await?;
    if changes
        .entity_type_id
        .is_some_and(|asked| asked != current.entity_type.type_id())
    {
        return Err(CrmError::Invalid("entityTypeId cannot be changed".into()));
    }
    let title = match &changes.title {
        Some(title) => checked_name("title", title)?,
        None => current.title.as_str(),
    };
    let settings = merged_settings(&current.settings, &changes.settings)?;
    store::query("UPDATE crm_types SET title = $1, settings = $2, updated_by = $3, updated_at = $4 WHERE id = $5")
        .bind(title)
        .bind(Value::Object(settings).to_string())
        .bind(user)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    get(tx, id).await
}

/// Deletes a type that has no items, with its pipelines, stages and robots.
pub async fn delete(tx: &mut Tx, id: i64) -> Result<(), CrmError> {
    let doomed = get(tx, id).await?;
    let items: i64 = store::query_scalar("SELECT COUNT(*) FROM items WHERE entity_type = $1")
        .bind(doomed.entity_type)
        .fetch_one(&mut *tx)
        .await?;
    if items > 0 {
        return Err(CrmError::Invalid(format!(
            "smart process '{}' still has {items} items; delete them first",
            doomed.title
        )));
    }
    for table in ["robots", "stages", "categories"] {
        store::query(&format!("DELETE FROM {table} WHERE entity_type = $1"))
            .bind(doomed.entity_type)
            .execute(&mut *tx)
            .await?;
    }
    store::query("DELETE FROM crm_types WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
