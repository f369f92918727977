//! Activities: meetings, calls and to-dos on one item's timeline, each with a responsible user
//! and a deadline, as Bitrix24's `crm.activity.*` keep them.

use crate::store;
use serde_json::{Map, Value};

use super::automation::{Automation, Change, Happening};
use super::query::{ColumnType, Page, TableQuery};
use crate::clock::Millis;
use crate::directory;
use crate::model::{CrmError, EntityType, ItemRef, checked_name};
use crate::rest_fields;
use crate::store::{Conn, Store, Tx};

/// The sequence activity ids come from; a robot reserves one before its run commits.
pub const SEQUENCE: &str = "activity";

/// Bitrix24's activity type ids this CRM keeps.
pub mod kind {
    /// A meeting.
    pub const MEETING: i64 = 1;
    /// A phone call.
    pub const CALL: i64 = 2;
    /// A to-do (Bitrix24's "provider" activity, `CRM_TODO`).
    pub const TODO: i64 = 6;
}

/// An activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// Its id.
    pub id: i64,
    /// The item whose timeline it is on.
    pub owner: ItemRef,
    /// One of [`kind`].
    pub type_id: i64,
    /// Its subject line.
    pub subject: String,
    /// Details.
    pub description: String,
    /// Who does it.
    pub responsible_id: i64,
    /// Who created it.
    pub author_id: i64,
    /// When it starts.
    pub start_time: Option<Millis>,
    /// When it ends.
    pub end_time: Option<Millis>,
    /// When it is due.
    pub deadline: Option<Millis>,
    /// Whether it is done.
    pub completed: bool,
    /// 1 low, 2 medium, 3 high.
    pub priority: i64,
    /// 0 none, 1 incoming, 2 outgoing.
    pub direction: i64,
    /// When it was created.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
}

/// What an activity add or update sets; `None` keeps the current value (or the default on add).
#[derive(Debug, Clone, Default)]
pub struct ActivityChanges {
    /// The owner item (add only).
    pub owner: Option<ItemRef>,
    /// The type (add only).
    pub type_id: Option<i64>,
    /// Subject line.
    pub subject: Option<String>,
    /// Details.
    pub description: Option<String>,
    /// Who does it.
    pub responsible_id: Option<i64>,
    /// Start; `Some(None)` clears it.
    pub start_time: Option<Option<Millis>>,
    /// End; `Some(None)` clears it.
    pub end_time: Option<Option<Millis>>,
    /// Deadline; `Some(None)` clears it.
    pub deadline: Option<Option<Millis>>,
    /// Done or not.
    pub completed: Option<bool>,
    /// 1 to 3.
    pub priority: Option<i64>,
    /// 0 to 2.
    pub direction: Option<i64>,
}

impl ActivityChanges {
    /// Reads the `fields` of crm.activity.add / update (OWNER_TYPE_ID, TYPE_ID, SUBJECT, ...).
    pub fn from_rest(fields: &Map<String, Value>) -> Result<Self, CrmError> {
        rest_fields::only(
            fields,
            &[
                "OWNER_TYPE_ID",
                "OWNER_ID",
                "TYPE_ID",
                "SUBJECT",
                "DESCRIPTION",
                "RESPONSIBLE_ID",
                "START_TIME",
                "END_TIME",
                "DEADLINE",
                "COMPLETED",
                "PRIORITY",
                "DIRECTION",
            ],
        )?;
        let owner = match (
            rest_fields::optional_int(fields, "OWNER_TYPE_ID")?,
            rest_fields::optional_int(fields, "OWNER_ID")?,
        ) {
            (Some(type_id), Some(id)) => Some(ItemRef {
                entity_type: EntityType::from_type_id(type_id)?,
                id,
            }),
            (None, None) => None,
            _ => return Err(CrmError::Invalid("OWNER_TYPE_ID and OWNER_ID go together".into())),
        };
        Ok(ActivityChanges {
            owner,
            type_id: rest_fields::optional_int(fields, "TYPE_ID")?,
            subject: rest_fields::optional_str(fields, "SUBJECT")?,
            description: rest_fields::optional_str(fields, "DESCRIPTION")?,
            responsible_id: rest_fields::optional_int(fields, "RESPONSIBLE_ID")?,
            start_time: rest_fields::optional_time(fields, "START_TIME")?,
            end_time: rest_fields::optional_time(fields, "END_TIME")?,
            deadline: rest_fields::optional_time(fields, "DEADLINE")?,
            completed: rest_fields::optional_flag(fields, "COMPLETED")?,
            priority: rest_fields::optional_int(fields, "PRIORITY")?,
            direction: rest_fields::optional_int(fields, "DIRECTION")?,
        })
    }
}

fn activity_from_row(row: &store::Row) -> Result<Activity, CrmError> {
    Ok(Activity {
        id: row.try_get("id")?,
        owner: ItemRef {
            entity_type: EntityType::parse(&row.try_get::<String, _>("owner_type")?)?,
            id: row.try_get("owner_id")?,
        },
        type_id: row.try_get("type_id")?,
        subject: row.try_get("subject")?,
        description: row.try_get("description")?,
        responsible_id: row.try_get("responsible_id")?,
        author_id: row.try_get("author_id")?,
        start_time: row.try_get("start_time")?,
        end_time: row.try_get("end_time")?,
        deadline: row.try_get("deadline")?,
        completed: row.try_get::<i64, _>("completed")? != 0,
        priority: row.try_get("priority")?,
        direction: row.try_get("direction")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// One activity.
pub async fn activity(conn: &mut Conn, id: i64) -> Result<Activity, CrmError> {
    let row = store::query("SELECT * FROM activities WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| CrmError::NotFound(format!("activity {id}")))?;
    activity_from_row(&row)
}

/// The columns `crm.activity.list` filters and orders by. OWNER_TYPE_ID is matched through the
/// stored type name, see [`list`].
const LIST_COLUMNS: &[(&str, &str, ColumnType)] = &[
    ("ID", "id", ColumnType::Int),
    ("OWNER_ID", "owner_id", ColumnType::Int),
    ("TYPE_ID", "type_id", ColumnType::Int),
    ("SUBJECT", "subject", ColumnType::Text),
    ("RESPONSIBLE_ID", "responsible_id", ColumnType::Int),
    ("AUTHOR_ID", "author_id", ColumnType::Int),
    ("COMPLETED", "completed", ColumnType::Flag),
    ("PRIORITY", "priority", ColumnType::Int),
    ("DIRECTION", "direction", ColumnType::Int),
    ("START_TIME", "start_time", ColumnType::Time),
    ("END_TIME", "end_time", ColumnType::Time),
    ("DEADLINE", "deadline", ColumnType::Time),
    ("CREATED", "created_at", ColumnType::Time),
    ("LAST_UPDATED", "updated_at", ColumnType::Time),
];

/// A page of activities matching `filter` and, when the page asks, the total. `OWNER_TYPE_ID` (1 to 4) limits the
/// owner's entity type.
pub async fn list(
    conn: &mut Conn,
    filter: &Map<String, Value>,
    order: &Map<String, Value>,
    page: Page,
) -> Result<(Vec<Activity>, Option<i64>), CrmError> {
    let mut filter = filter.clone();
    let owner_type = match filter.remove("OWNER_TYPE_ID") {
        None => None,
        Some(value) => {
            let id = value
                .as_i64()
                .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| CrmError::Invalid(format!("OWNER_TYPE_ID {value} is not a type id")))?;
            Some(EntityType::from_type_id(id)?)
        }
    };
    let scope = match owner_type {
        Some(entity_type) => format!("owner_type = '{entity_type}'"),
        None => "1 = 1".to_string(),
    };
    let query = TableQuery {
        table: "activities",
        columns: LIST_COLUMNS,
        scope: &scope,
        filter: &filter,
        order,
        page,
    };
    let (rows, total) = query.run(conn).await?;
    Ok((rows.iter().map(activity_from_row).collect::<Result<_, _>>()?, total))
}

/// Adds an activity to an existing item's timeline, with a reserved id or the next.
pub async fn add(
    tx: &mut Tx,
    automation: &dyn Automation,
    id: Option<i64>,
    changes: &ActivityChanges,
    author: i64,
    now: Millis,
) -> Result<Activity, CrmError> {
    let owner = changes
        .owner
        .ok_or_else(|| CrmError::Invalid("OWNER_TYPE_ID and OWNER_ID are required".into()))?;
    super::get(tx, owner).await?;
    let type_id = changes
        .type_id
        .ok_or_else(|| CrmError::Invalid("TYPE_ID is required".into()))?;
    if ![kind::MEETING, kind::CALL, kind::TODO].contains(&type_id) {
        return Err(CrmError::Invalid(format!(
            "TYPE_ID {type_id} is not supported: 1 meeting, 2 call, 6 to-do"
        )));
    }
    let subject = changes
        .subject
        .as_deref()
        .ok_or_else(|| CrmError::Invalid("SUBJECT is required".into()))?;
    let id = match id {
        Some(id) => id,
        None => Store::next_id(tx, SEQUENCE).await?,
    };
    store::query(
        "INSERT INTO activities (id, owner_type, owner_id, type_id, subject, description, responsible_id, author_id,
         completed, priority, direction, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, '', $6, $6, 0, 2, 0, $7, $7)",
    )
    .bind(id)
    .bind(owner.entity_type)
    .bind(owner.id)
    .bind(type_id)
    .bind(checked_name("SUBJECT", subject)?)
    .bind(author)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let rest = ActivityChanges {
        responsible_id: changes.responsible_id.or(Some(author)),
        ..changes.clone()
    };
    let added = update(tx, automation, id, &rest, now).await?;
    automation
        .react(tx, owner, Change::Happened(&Happening::ActivityAdded), now)
        .await?;
    Ok(added)
}

/// Changes an activity; its owner and type stay.
pub async fn update(
    tx: &mut Tx,
    automation: &dyn Automation,
    id: i64,
    changes: &ActivityChanges,
    now: Millis,
) -> Result<Activity, CrmError> {
    let current = activity(tx, id).await?;
    if changes.owner.is_some_and(|o| o != current.owner) || changes.type_id.is_some_and(|t| t != current.type_id) {
        return Err(CrmError::Invalid("an activity's owner and type cannot change".into()));
    }
    if let Some(responsible) = changes.responsible_id {
        directory::active_user(tx, responsible).await?;
    }
    let priority = changes.priority.unwrap_or(current.priority);
    let direction = changes.direction.unwrap_or(current.direction);
    if !(1..=3).contains(&priority) || !(0..=2).contains(&direction) {
        return Err(CrmError::Invalid("PRIORITY must be 1 to 3 and DIRECTION 0 to 2".into()));
    }
    let start = changes.start_time.unwrap_or(current.start_time);
    let end = changes.end_time.unwrap_or(current.end_time);
    if let (Some(start), Some(end)) = (start, end)
        && end < start
    {
        return Err(CrmError::Invalid("END_TIME is before START_TIME".into()));
    }
    let subject = changes
        .subject
        .as_deref()
        .map(|s| checked_name("SUBJECT", s))
        .transpose()?;
    store::query(
        "UPDATE activities SET subject = $1, description = $2, responsible_id = $3, start_time = $4, end_time = $5,
         deadline = $6, completed = $7, priority = $8, direction = $9, updated_at = $10 WHERE id = $11",
    )
    .bind(subject.unwrap_or(&current.subject))
    .bind(changes.description.as_deref().unwrap_or(&current.description))
    .bind(changes.responsible_id.unwrap_or(current.responsible_id))
    .bind(start)
    .bind(end)
    .bind(changes.deadline.unwrap_or(current.deadline))
    .bind(i64::from(changes.completed.unwrap_or(current.completed)))
    .bind(priority)
    .bind(direction)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if changes.completed == Some(true) && !current.completed {
        let payload = serde_json::json!({"activity_id": id, "type_id": current.type_id});
        super::record_event(tx, current.owner, "activity_completed", payload, now).await?;
        let happening = Happening::ActivityCompleted {
            type_id: current.type_id,
        };
        automation
            .react(tx, current.owner, Change::Happened(&happening), now)
            .await?;
    }
    activity(tx, id).await
}

/// Deletes an activity.
pub async fn delete(tx: &mut Tx, id: i64) -> Result<(), CrmError> {
    activity(tx, id).await?;
    store::query("DELETE FROM activities WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
