//! Tasks, as Bitrix24's tasks module keeps them: work for one responsible user, with a deadline
//! and a status, bound to CRM items (`D_12`) so robots can create them for a deal and people find
//! them from it.

use crate::store;
use serde_json::{Map, Value};

use crate::clock::Millis;
use crate::crm::automation::{Automation, Change, Happening};
use crate::crm::{self, ColumnType, Page, TableQuery};
use crate::directory;
use crate::model::{CrmError, ItemRef, checked_name};
use crate::rest_fields;
use crate::store::{Conn, Store, Tx};

/// The sequence task ids come from; a robot reserves one before its run commits.
pub const SEQUENCE: &str = "task";

/// Bitrix24's task statuses.
pub mod status {
    /// Waiting to be started: what a new task is.
    pub const PENDING: i64 = 2;
    /// Being worked on.
    pub const IN_PROGRESS: i64 = 3;
    /// Done by the responsible person, awaiting the creator's check.
    pub const SUPPOSEDLY_COMPLETED: i64 = 4;
    /// Done.
    pub const COMPLETED: i64 = 5;
    /// Put off.
    pub const DEFERRED: i64 = 6;
}

/// A task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Its id.
    pub id: i64,
    /// What is to be done.
    pub title: String,
    /// Details.
    pub description: String,
    /// Who does it.
    pub responsible_id: i64,
    /// Who asked for it.
    pub created_by: i64,
    /// One of [`status`].
    pub status: i64,
    /// 0 low, 1 normal, 2 high.
    pub priority: i64,
    /// When it is due.
    pub deadline: Option<Millis>,
    /// The CRM items it belongs to, as Bitrix24 writes them (`D_12`).
    pub crm_bindings: Vec<String>,
    /// Users who follow it (Bitrix24's auditors, "observers").
    pub auditors: Vec<i64>,
    /// Users who help the responsible (co-executors).
    pub accomplices: Vec<i64>,
    /// When it was created.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
    /// When it was completed.
    pub closed_at: Option<Millis>,
}

/// What a task add or update sets; `None` keeps the current value (or the default on add).
#[derive(Debug, Clone, Default)]
pub struct TaskChanges {
    /// What is to be done.
    pub title: Option<String>,
    /// Details.
    pub description: Option<String>,
    /// Who does it.
    pub responsible_id: Option<i64>,
    /// Who asked for it (add only; the calling user by default).
    pub created_by: Option<i64>,
    /// A new status.
    pub status: Option<i64>,
    /// A new priority.
    pub priority: Option<i64>,
    /// A new deadline; `Some(None)` clears it.
    pub deadline: Option<Option<Millis>>,
    /// New CRM bindings, replacing the old.
    pub crm_bindings: Option<Vec<String>>,
    /// New observers, replacing the old.
    pub auditors: Option<Vec<i64>>,
    /// New co-executors, replacing the old.
    pub accomplices: Option<Vec<i64>>,
    /// The robot creating the task, when a robot run does; set by the host on add, never from
    /// REST fields.
    pub robot_id: Option<String>,
}

impl TaskChanges {
    /// Reads the `fields` of tasks.task.add / update (TITLE, RESPONSIBLE_ID, DEADLINE, ...).
    pub fn from_rest(fields: &Map<String, Value>) -> Result<Self, CrmError> {
        rest_fields::only(
            fields,
            &[
                "TITLE",
                "DESCRIPTION",
                "RESPONSIBLE_ID",
                "CREATED_BY",
                "STATUS",
                "PRIORITY",
                "DEADLINE",
                "UF_CRM_TASK",
                "AUDITORS",
                "ACCOMPLICES",
            ],
        )?;
        Ok(TaskChanges {
            title: rest_fields::optional_str(fields, "TITLE")?,
            description: rest_fields::optional_str(fields, "DESCRIPTION")?,
            responsible_id: rest_fields::optional_int(fields, "RESPONSIBLE_ID")?,
            created_by: rest_fields::optional_int(fields, "CREATED_BY")?,
            status: rest_fields::optional_int(fields, "STATUS")?,
            priority: rest_fields::optional_int(fields, "PRIORITY")?,
            deadline: rest_fields::optional_time(fields, "DEADLINE")?,
            crm_bindings: rest_fields::optional_strings(fields, "UF_CRM_TASK")?,
            auditors: rest_fields::optional_ids(fields, "AUDITORS")?,
            accomplices: rest_fields::optional_ids(fields, "ACCOMPLICES")?,
            robot_id: None,
        })
    }
}

fn task_from_row(row: &store::Row) -> Result<Task, CrmError> {
    let bindings: String = row.try_get("crm_bindings")?;
    let users = |column: &str| -> Result<Vec<i64>, CrmError> {
        let stored: String = row.try_get(column)?;
        serde_json::from_str(&stored).map_err(|e| CrmError::Invalid(format!("stored {column} are corrupt: {e}")))
    };
    Ok(Task {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        responsible_id: row.try_get("responsible_id")?,
        created_by: row.try_get("created_by")?,
        status: row.try_get("status")?,
        priority: row.try_get("priority")?,
        deadline: row.try_get("deadline")?,
        crm_bindings: serde_json::from_str(&bindings)
            .map_err(|e| CrmError::Invalid(format!("stored bindings are corrupt: {e}")))?,
        auditors: users("auditors")?,
        accomplices: users("accomplices")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        closed_at: row.try_get("closed_at")?,
    })
}

/// One task.
pub async fn task(conn: &mut Conn, id: i64) -> Result<Task, CrmError> {
    let row = store::query("SELECT * FROM tasks WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| CrmError::NotFound(format!("task {id}")))?;
    task_from_row(&row)
}

/// The columns `tasks.task.list` filters and orders by.
const LIST_COLUMNS: &[(&str, &str, ColumnType)] = &[
    ("ID", "id", ColumnType::Int),
    ("TITLE", "title", ColumnType::Text),
    ("RESPONSIBLE_ID", "responsible_id", ColumnType::Int),
    ("CREATED_BY", "created_by", ColumnType::Int),
    ("STATUS", "status", ColumnType::Int),
    ("REAL_STATUS", "status", ColumnType::Int),
    ("PRIORITY", "priority", ColumnType::Int),
    ("DEADLINE", "deadline", ColumnType::Time),
    ("CREATED_DATE", "created_at", ColumnType::Time),
    ("CHANGED_DATE", "updated_at", ColumnType::Time),
    ("CLOSED_DATE", "closed_at", ColumnType::Time),
];

/// A page of tasks matching `filter` (Bitrix24's operators over [`LIST_COLUMNS`]) and, when the page asks, the total.
pub async fn list(
    conn: &mut Conn,
    filter: &serde_json::Map<String, serde_json::Value>,
    order: &serde_json::Map<String, serde_json::Value>,
    page: Page,
) -> Result<(Vec<Task>, Option<i64>), CrmError> {
    let query = TableQuery {
        table: "tasks",
        columns: LIST_COLUMNS,
        scope: "1 = 1",
        filter,
        order,
        page,
    };
    let (rows, total) = query.run(conn).await?;
    Ok((rows.iter().map(task_from_row).collect::<Result<_, _>>()?, total))
}

/// Adds a task for an active user, with a reserved id or the next; `user` is who asks, the
/// creator unless CREATED_BY says else.
pub async fn add(
    tx: &mut Tx,
    automation: &dyn Automation,
    id: Option<i64>,
    changes: &TaskChanges,
    user: i64,
    now: Millis,
) -> Result<Task, CrmError> {
    let title = changes
        .title
        .as_deref()
        .ok_or_else(|| CrmError::Invalid("TITLE is required".into()))?;
    let responsible = changes
        .responsible_id
        .ok_or_else(|| CrmError::Invalid("RESPONSIBLE_ID is required".into()))?;
    let created_by = changes.created_by.unwrap_or(user);
    for person in [responsible, created_by] {
        directory::active_user(tx, person).await?;
    }
    let id = match id {
        Some(id) => id,
        None => Store::next_id(tx, SEQUENCE).await?,
    };
    store::query(
        "INSERT INTO tasks (id, title, description, responsible_id, created_by, status, priority, deadline, crm_bindings, created_at, updated_at, robot_id)
         VALUES ($1, $2, '', $3, $4, $5, 1, NULL, '[]', $6, $6, $7)",
    )
    .bind(id)
    .bind(checked_name("TITLE", title)?)
    .bind(responsible)
    .bind(created_by)
    .bind(status::PENDING)
    .bind(now)
    .bind(changes.robot_id.as_deref())
    .execute(&mut *tx)
    .await?;
    let rest = TaskChanges {
        title: None,
        responsible_id: None,
        created_by: None,
        ..changes.clone()
    };
    update(tx, automation, id, &rest, now).await
}

/// Changes a task; completing it stamps its closing time, reopening clears it.
pub async fn update(
    tx: &mut Tx,
    automation: &dyn Automation,
    id: i64,
    changes: &TaskChanges,
    now: Millis,
) -> Result<Task, CrmError> {
    let current = task(tx, id).await?;
    if changes.created_by.is_some_and(|c| c != current.created_by) {
        return Err(CrmError::Invalid("CREATED_BY cannot change".into()));
    }
    if let Some(responsible) = changes.responsible_id {
        directory::active_user(tx, responsible).await?;
    }
    let status = changes.status.unwrap_or(current.status);
    if !(status::PENDING..=status::DEFERRED).contains(&status) {
        return Err(CrmError::Invalid(format!(
            "STATUS {status} is not a task status (2 to 6)"
        )));
    }
    let priority = changes.priority.unwrap_or(current.priority);
    if !(0..=2).contains(&priority) {
        return Err(CrmError::Invalid(format!("PRIORITY {priority} is not 0, 1 or 2")));
    }
    let bindings = match &changes.crm_bindings {
        Some(bindings) => checked_bindings(tx, bindings).await?,
        None => current.crm_bindings.clone(),
    };
    let auditors = checked_users(tx, changes.auditors.as_deref(), &current.auditors).await?;
    let accomplices = checked_users(tx, changes.accomplices.as_deref(), &current.accomplices).await?;
    let closed_at = match (status == status::COMPLETED, current.closed_at) {
        (true, Some(at)) => Some(at),
        (true, None) => Some(now),
        (false, _) => None,
    };
    let title = changes.title.as_deref().map(|t| checked_name("TITLE", t)).transpose()?;
    store::query(
        "UPDATE tasks SET title = $1, description = $2, responsible_id = $3, status = $4, priority = $5,
         deadline = $6, crm_bindings = $7, updated_at = $8, closed_at = $9, auditors = $11, accomplices = $12
         WHERE id = $10",
    )
    .bind(title.unwrap_or(&current.title))
    .bind(changes.description.as_deref().unwrap_or(&current.description))
    .bind(changes.responsible_id.unwrap_or(current.responsible_id))
    .bind(status)
    .bind(priority)
    .bind(changes.deadline.unwrap_or(current.deadline))
    .bind(serde_json::Value::from(bindings.clone()).to_string())
    .bind(now)
    .bind(closed_at)
    .bind(id)
    .bind(serde_json::Value::from(auditors).to_string())
    .bind(serde_json::Value::from(accomplices).to_string())
    .execute(&mut *tx)
    .await?;
    if status == status::COMPLETED && current.status != status::COMPLETED {
        for binding in &bindings {
            let item = ItemRef::parse_short(binding)?;
            crm::record_event(tx, item, "task_completed", serde_json::json!({"task_id": id}), now).await?;
            automation
                .react(tx, item, Change::Happened(&Happening::TaskCompleted), now)
                .await?;
        }
    }
    task(tx, id).await
}

/// The open (not completed) tasks bound to `item`, or only those robot `robot_id` created,
/// by id.
pub async fn open_of(conn: &mut Conn, item: ItemRef, robot_id: Option<&str>) -> Result<Vec<i64>, CrmError> {
    let binding = serde_json::Value::from(item.short()).to_string();
    let ids: Vec<i64> = store::query_scalar(
        "SELECT id FROM tasks WHERE status <> $1 AND crm_bindings LIKE $2 AND ($3 IS NULL OR robot_id = $3) ORDER BY id",
    )
    .bind(status::COMPLETED)
    .bind(format!("%{binding}%"))
    .bind(robot_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ids)
}

/// Completes the open tasks of `item` ([`open_of`]), each a completed-task happening of its items
/// as when a person completes it; returns how many.
pub async fn complete_open(
    tx: &mut Tx,
    automation: &dyn Automation,
    item: ItemRef,
    robot_id: Option<&str>,
    now: Millis,
) -> Result<usize, CrmError> {
    let open = open_of(tx, item, robot_id).await?;
    let done = TaskChanges {
        status: Some(status::COMPLETED),
        ..TaskChanges::default()
    };
    for &id in &open {
        update(tx, automation, id, &done, now).await?;
    }
    Ok(open.len())
}

/// Bindings like `D_12` (L lead, D deal, C contact, CO company) to items that exist.
async fn checked_bindings(conn: &mut Conn, bindings: &[String]) -> Result<Vec<String>, CrmError> {
    let mut checked = Vec::with_capacity(bindings.len());
    for binding in bindings {
        let item = ItemRef::parse_short(binding)?;
        crm::get(conn, item)
            .await
            .map_err(|_| CrmError::Invalid(format!("UF_CRM_TASK: {binding} does not exist")))?;
        let canonical = item.short();
        if !checked.contains(&canonical) {
            checked.push(canonical);
        }
    }
    Ok(checked)
}

/// A new list of task members, each an active user, without repeats; `current` when unchanged.
async fn checked_users(conn: &mut Conn, users: Option<&[i64]>, current: &[i64]) -> Result<Vec<i64>, CrmError> {
    let Some(users) = users else {
        return Ok(current.to_vec());
    };
    let mut checked = Vec::with_capacity(users.len());
    for &user in users {
        directory::active_user(conn, user).await?;
        if !checked.contains(&user) {
            checked.push(user);
        }
    }
    Ok(checked)
}
