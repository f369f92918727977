//! The stage history: every stage an item of a type with stages entered, when, and in which
//! pipeline, as Bitrix24's `crm.stagehistory.list` answers it. The host writes a row with each
//! placement and move, in the same transaction; rows stay after the item is deleted.

use serde::Serialize;
use serde_json::{Map, Value};

use super::Stage;
use super::query::{ColumnType, Page, TableQuery};
use crate::clock::Millis;
use crate::model::{CrmError, EntityType, ItemRef};
use crate::store::{self, Conn, Tx};

/// What kind of entry a row records, with Bitrix24's TYPE_ID numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The item was created in the stage (1).
    Created = 1,
    /// The item moved to an in-progress stage of its pipeline (2).
    Intermediate = 2,
    /// The item moved to a final stage: won or lost (3).
    Final = 3,
    /// The item moved to another pipeline (5).
    PipelineChanged = 5,
}

impl Kind {
    /// The kind of a move into `stage` from a stage of pipeline `from_category`.
    pub fn of_move(from_category: Option<i64>, stage: &Stage) -> Self {
        if from_category != Some(stage.category_id) {
            Self::PipelineChanged
        } else if stage.semantics == "P" {
            Self::Intermediate
        } else {
            Self::Final
        }
    }
}

/// One stage entered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Its id; ids grow with time.
    pub id: i64,
    /// The item.
    pub owner_id: i64,
    /// Bitrix24's TYPE_ID: 1 created, 2 intermediate stage, 3 final stage, 5 pipeline changed.
    pub type_id: i64,
    /// The pipeline the stage is in.
    pub category_id: i64,
    /// The stage entered.
    pub stage_id: String,
    /// Its semantics then: "P", "S" or "F".
    pub semantics: String,
    /// When.
    pub created_at: Millis,
}

/// Records that `item` entered `stage`.
pub(crate) async fn record(tx: &mut Tx, item: ItemRef, kind: Kind, stage: &Stage, now: Millis) -> Result<(), CrmError> {
    store::query(
        "INSERT INTO stage_history (entity_type, owner_id, type_id, category_id, stage_id, semantics, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(item.entity_type)
    .bind(item.id)
    .bind(kind as i64)
    .bind(stage.category_id)
    .bind(stage.status_id.as_str())
    .bind(stage.semantics.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// What a list may filter and order by, by Bitrix24's names (leads say STATUS_ for STAGE_).
fn columns(entity_type: EntityType) -> &'static [(&'static str, &'static str, ColumnType)] {
    const STAGE: &[(&str, &str, ColumnType)] = &[
        ("ID", "id", ColumnType::Int),
        ("TYPE_ID", "type_id", ColumnType::Int),
        ("OWNER_ID", "owner_id", ColumnType::Int),
        ("CREATED_TIME", "created_at", ColumnType::Time),
        ("CATEGORY_ID", "category_id", ColumnType::Int),
        ("STAGE_ID", "stage_id", ColumnType::Text),
        ("STAGE_SEMANTIC_ID", "semantics", ColumnType::Text),
    ];
    const STATUS: &[(&str, &str, ColumnType)] = &[
        ("ID", "id", ColumnType::Int),
        ("TYPE_ID", "type_id", ColumnType::Int),
        ("OWNER_ID", "owner_id", ColumnType::Int),
        ("CREATED_TIME", "created_at", ColumnType::Time),
        ("STATUS_ID", "stage_id", ColumnType::Text),
        ("STATUS_SEMANTIC_ID", "semantics", ColumnType::Text),
    ];
    if entity_type == EntityType::Lead { STATUS } else { STAGE }
}

/// A page of a type's stage history matching `filter`, in `order` (by ID when none), and the
/// total when the page asks. `scope` narrows it further, already safe SQL.
pub async fn list(
    conn: &mut Conn,
    entity_type: EntityType,
    scope: Option<&str>,
    filter: &Map<String, Value>,
    order: &Map<String, Value>,
    page: Page,
) -> Result<(Vec<Entry>, Option<i64>), CrmError> {
    if !entity_type.has_stages() {
        return Err(CrmError::Invalid(format!("{entity_type} items have no stages")));
    }
    let mut condition = format!("entity_type = '{entity_type}'");
    if let Some(scope) = scope {
        condition = format!("{condition} AND {scope}");
    }
    let query = TableQuery {
        table: "stage_history",
        columns: columns(entity_type),
        scope: &condition,
        filter,
        order,
        page,
    };
    let (rows, total) = query.run(conn).await?;
    let entries = rows
        .iter()
        .map(|row| {
            Ok(Entry {
                id: row.try_get("id")?,
                owner_id: row.try_get("owner_id")?,
                type_id: row.try_get("type_id")?,
                category_id: row.try_get("category_id")?,
                stage_id: row.try_get("stage_id")?,
                semantics: row.try_get("semantics")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect::<Result<_, CrmError>>()?;
    Ok((entries, total))
}
