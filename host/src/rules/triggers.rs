//! Triggers: each sits on a stage and moves an item into it when something happens to the item
//! (a field changes, the responsible changes, the item is created, an activity or task is
//! completed, a comment is added, an integration calls the trigger's webhook or an application
//! executes its code, or nothing has happened for some days).
//!
//! Bitrix24's rule decides which trigger wins: only triggers of stages after the item's current
//! one count, unless a trigger allows moving back; the candidates are taken in stage order and
//! the first whose condition holds moves the item, which then runs that stage's robots.

use crate::store;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::Millis;
use crate::crm::{self, Automation, Happening, Stage, Written};
use crate::model::{CrmError, EntityType, FieldChanges, ItemRef};
use crate::store::{Conn, Tx};

use super::ConditionGroup;

/// What a trigger waits for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TriggerKind {
    /// A field changed; to `value` when one is given.
    FieldChanged {
        /// The field (its REST name).
        field: String,
        /// The value it must change to, if any.
        #[serde(default)]
        value: Option<Value>,
    },
    /// The responsible person changed; to `user_id` when one is given.
    ResponsibleChanged {
        /// The new responsible it must be, if any.
        #[serde(default)]
        user_id: Option<i64>,
    },
    /// The item was created.
    ItemCreated,
    /// An activity of the item was completed; of `type_id` (1 meeting, 2 call, 6 to-do) when
    /// one is given.
    ActivityCompleted {
        /// The activity type it must be, if any.
        #[serde(default)]
        type_id: Option<i64>,
    },
    /// A task bound to the item was completed.
    TaskCompleted,
    /// A timeline comment was added to the item.
    CommentAdded,
    /// An integration called `crm.automation.trigger` with this code (generated when left out).
    Webhook {
        /// The code the caller passes.
        #[serde(default)]
        code: Option<String>,
    },
    /// An application called `crm.automation.trigger.execute` with this registered code.
    App {
        /// The code the application registered with `crm.automation.trigger.add`.
        code: String,
    },
    /// Nothing happened to the item (no change, comment, activity or task) for this many days.
    NoActivity {
        /// Days of quiet.
        days: i64,
    },
}

impl TriggerKind {
    /// What the trigger waits for, as an admin reads it, fields named by `title`: "when Amount
    /// changes to 5000", "after 5 days without activity".
    pub fn in_words(&self, title: &dyn Fn(&str) -> String) -> String {
        match self {
            Self::FieldChanged { field, value: None } => format!("when {} changes", title(field)),
            Self::FieldChanged { field, value: Some(v) } => {
                let v = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                format!("when {} changes to {v}", title(field))
            }
            Self::ResponsibleChanged { user_id: None } => "when the responsible person changes".into(),
            Self::ResponsibleChanged { user_id: Some(u) } => format!("when user {u} becomes responsible"),
            Self::ItemCreated => "when the item is created".into(),
            Self::ActivityCompleted { type_id: None } => "when an activity is completed".into(),
            Self::ActivityCompleted { type_id: Some(t) } => format!("when an activity of type {t} is completed"),
            Self::TaskCompleted => "when a task is completed".into(),
            Self::CommentAdded => "when a comment is added".into(),
            Self::Webhook { code } => format!("when the webhook is called (code {})", code.as_deref().unwrap_or("?")),
            Self::App { code } => format!("when an application executes {code}"),
            Self::NoActivity { days } => {
                let plural = if *days == 1 { "" } else { "s" };
                format!("after {days} day{plural} without activity")
            }
        }
    }

    /// The webhook or app code, for lookup.
    fn code(&self) -> Option<&str> {
        match self {
            Self::Webhook { code } => code.as_deref(),
            Self::App { code } => Some(code),
            _ => None,
        }
    }
}

/// The kind of happening a parked `wait` may be woken by, if it is one.
fn wakes(happening: &Happening) -> Option<&'static str> {
    match happening {
        Happening::ActivityAdded | Happening::ActivityCompleted { .. } => Some("activity"),
        Happening::CommentAdded => Some("comment"),
        Happening::TaskCompleted => Some("task"),
        Happening::FieldsChanged(_) => Some("change"),
        _ => None,
    }
}

/// Whether a trigger of `kind` reacts to `happening`.
fn matches(happening: &Happening, kind: &TriggerKind) -> bool {
    match (happening, kind) {
        (Happening::Created, TriggerKind::ItemCreated)
        | (Happening::TaskCompleted, TriggerKind::TaskCompleted)
        | (Happening::CommentAdded, TriggerKind::CommentAdded) => true,
        (Happening::FieldsChanged(changes), TriggerKind::FieldChanged { field, value }) => changes
            .iter()
            .any(|(name, _, new)| name == field && value.as_ref().is_none_or(|v| loosely_equal(v, new))),
        (Happening::FieldsChanged(changes), TriggerKind::ResponsibleChanged { user_id }) => changes
            .iter()
            .any(|(name, _, new)| name == "ASSIGNED_BY_ID" && user_id.is_none_or(|u| new.as_i64() == Some(u))),
        (Happening::ActivityCompleted { type_id }, TriggerKind::ActivityCompleted { type_id: wanted }) => {
            wanted.is_none_or(|w| w == *type_id)
        }
        (Happening::Webhook(code), TriggerKind::Webhook { code: Some(own) })
        | (Happening::App(code), TriggerKind::App { code: own }) => code == own,
        (Happening::Quiet { days }, TriggerKind::NoActivity { days: wanted }) => days >= wanted,
        _ => false,
    }
}

fn loosely_equal(a: &Value, b: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    a == b || text(a) == text(b)
}

/// A trigger as stored and shown by the admin API.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Trigger {
    /// Its id ("t_" and 16 hex digits).
    pub id: String,
    /// The entity type whose pipeline it is in.
    pub entity_type: String,
    /// The pipeline.
    pub category_id: i64,
    /// The stage it moves items to.
    pub stage_id: String,
    /// Its name for admin screens.
    pub name: String,
    /// What it waits for.
    pub trigger: TriggerKind,
    /// What must hold for it to move the item.
    pub condition: Option<ConditionGroup>,
    /// Whether it may move an item back to an earlier stage.
    pub allow_backwards: bool,
    /// Its position among the stage's triggers.
    pub sort: i64,
    /// When it was added.
    pub created_at: Millis,
}

/// A trigger as the admin API receives it: `{"entity_type", "stage_id", "kind": ..., ...}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTrigger {
    /// "deal", "lead", "dynamic_128".
    pub entity_type: String,
    /// The stage it moves items to.
    pub stage_id: String,
    /// Its name; defaults to the kind.
    pub name: Option<String>,
    /// What it waits for.
    pub trigger: TriggerKind,
    /// What must hold for it to move the item.
    pub condition: Option<ConditionGroup>,
    /// Whether it may move an item back.
    #[serde(default)]
    pub allow_backwards: bool,
}

fn trigger_from_row(row: &store::Row) -> Result<Trigger, CrmError> {
    let corrupt = |e: serde_json::Error| CrmError::Invalid(format!("stored trigger is corrupt: {e}"));
    let kind: String = row.try_get("kind")?;
    let condition: Option<String> = row.try_get("condition")?;
    Ok(Trigger {
        id: row.try_get("id")?,
        entity_type: row.try_get("entity_type")?,
        category_id: row.try_get("category_id")?,
        stage_id: row.try_get("stage_id")?,
        name: row.try_get("name")?,
        trigger: serde_json::from_str(&kind).map_err(corrupt)?,
        condition: condition
            .map(|c| serde_json::from_str(&c))
            .transpose()
            .map_err(corrupt)?,
        allow_backwards: row.try_get::<i64, _>("allow_backwards")? != 0,
        sort: row.try_get("sort")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Adds a trigger to a stage. A webhook trigger without a code gets one, as Bitrix24 does.
pub async fn add(tx: &mut Tx, new: NewTrigger, now: Millis) -> Result<Trigger, CrmError> {
    let entity_type = EntityType::parse(&new.entity_type)?;
    let stage = crm::stage(tx, entity_type, &new.stage_id).await?;
    let sort: i64 = store::query_scalar(
        "SELECT COALESCE(MAX(sort), 0) + 10 FROM triggers WHERE entity_type = $1 AND stage_id = $2",
    )
    .bind(entity_type)
    .bind(&stage.status_id)
    .fetch_one(&mut *tx)
    .await?;
    let mut trigger = Trigger {
        id: format!("t_{:016x}", rand::random::<u64>()),
        entity_type: entity_type.to_string(),
        category_id: stage.category_id,
        stage_id: stage.status_id,
        name: new.name.unwrap_or_else(|| kind_name(&new.trigger)),
        trigger: new.trigger,
        condition: new.condition,
        allow_backwards: new.allow_backwards,
        sort,
        created_at: now,
    };
    put(tx, &mut trigger).await?;
    Ok(trigger)
}

/// Stores a trigger under its own id and sort, adding it or replacing the one with that id (which
/// keeps its creation time); its pipeline comes from its stage. What a configuration import uses.
pub async fn put(tx: &mut Tx, trigger: &mut Trigger) -> Result<(), CrmError> {
    let entity_type = EntityType::parse(&trigger.entity_type)?;
    let stage = crm::stage(tx, entity_type, &trigger.stage_id).await?;
    check_kind(tx, entity_type, &mut trigger.trigger).await?;
    if let Some(condition) = &trigger.condition {
        let (known, _) = super::robot_fields(tx, entity_type).await?;
        condition.check(&known)?;
    }
    trigger.entity_type = entity_type.to_string();
    trigger.category_id = stage.category_id;
    trigger.stage_id = stage.status_id;
    store::query(
        "INSERT INTO triggers (id, entity_type, category_id, stage_id, name, kind, code, condition, allow_backwards, sort, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (id) DO UPDATE SET entity_type = excluded.entity_type, category_id = excluded.category_id,
             stage_id = excluded.stage_id, name = excluded.name, kind = excluded.kind, code = excluded.code,
             condition = excluded.condition, allow_backwards = excluded.allow_backwards, sort = excluded.sort",
    )
    .bind(&trigger.id)
    .bind(&trigger.entity_type)
    .bind(trigger.category_id)
    .bind(&trigger.stage_id)
    .bind(&trigger.name)
    .bind(serde_json::to_string(&trigger.trigger).unwrap_or_default())
    .bind(trigger.trigger.code())
    .bind(trigger.condition.as_ref().map(|c| serde_json::to_string(c).unwrap_or_default()))
    .bind(i64::from(trigger.allow_backwards))
    .bind(trigger.sort)
    .bind(trigger.created_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn kind_name(kind: &TriggerKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v["kind"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Checks a trigger's parameters; gives a webhook trigger a code when it has none.
async fn check_kind(tx: &mut Tx, entity_type: EntityType, kind: &mut TriggerKind) -> Result<(), CrmError> {
    match kind {
        TriggerKind::FieldChanged { field, .. } => {
            let (known, _) = super::robot_fields(tx, entity_type).await?;
            if !known.contains(field) || field == entity_type.stage_field() {
                return Err(CrmError::Invalid(format!(
                    "field_changed needs a field of {entity_type} other than its stage, not {field}"
                )));
            }
        }
        TriggerKind::Webhook { code } => {
            let code = code.get_or_insert_with(|| format!("{:08x}", rand::random::<u32>()));
            check_code(code)?;
        }
        TriggerKind::App { code } => {
            check_code(code)?;
            let registered: Option<String> = store::query_scalar("SELECT code FROM app_triggers WHERE code = $1")
                .bind(code.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if registered.is_none() {
                return Err(CrmError::Invalid(format!(
                    "no application registered trigger code {code} (crm.automation.trigger.add)"
                )));
            }
        }
        TriggerKind::NoActivity { days } if !(1..=3650).contains(days) => {
            return Err(CrmError::Invalid("no_activity days must be 1 to 3650".into()));
        }
        _ => {}
    }
    Ok(())
}

fn check_code(code: &str) -> Result<(), CrmError> {
    if (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(())
    } else {
        Err(CrmError::Invalid(format!(
            "trigger code '{code}' must be 1 to 64 letters, digits, - or _"
        )))
    }
}

/// The triggers of an entity type, optionally of one stage, in stage then trigger order.
pub async fn list(
    conn: &mut Conn,
    entity_type: Option<&str>,
    stage_id: Option<&str>,
) -> Result<Vec<Trigger>, CrmError> {
    let (filter, args) = store::equal_filters(&[("entity_type", entity_type), ("stage_id", stage_id)]);
    let sql = format!("SELECT * FROM triggers{filter} ORDER BY entity_type, category_id, stage_id, sort");
    let rows = store::Query::with_args(&sql, args).fetch_all(&mut *conn).await?;
    rows.iter().map(trigger_from_row).collect()
}

/// Deletes a trigger.
/// One trigger.
pub async fn get(conn: &mut Conn, id: &str) -> Result<Trigger, CrmError> {
    let row = store::query("SELECT * FROM triggers WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref()
        .map(trigger_from_row)
        .unwrap_or_else(|| Err(CrmError::NotFound(format!("trigger {id}"))))
}

/// Deletes a trigger.
pub async fn delete(tx: &mut Tx, id: &str) -> Result<(), CrmError> {
    let deleted = store::query("DELETE FROM triggers WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(CrmError::NotFound(format!("trigger {id}")));
    }
    Ok(())
}

/// Lets what happened end the item's waits for it, then the triggers of the item's pipeline
/// react: the first candidate (in stage order, later stages only unless it allows moving back)
/// whose kind matches and whose condition holds moves the item. Returns the stage it moved to,
/// if any.
pub async fn react(
    tx: &mut Tx,
    automation: &dyn Automation,
    item_ref: ItemRef,
    happening: &Happening,
    now: Millis,
) -> Result<Option<Written>, CrmError> {
    if let Some(kind) = wakes(happening) {
        super::wake_parked(tx, item_ref, kind, now).await?;
    }
    if !item_ref.entity_type.has_stages() {
        return Ok(None);
    }
    let rows = store::query(
        "SELECT * FROM triggers WHERE entity_type = $1
           AND category_id = (SELECT category_id FROM items WHERE entity_type = $1 AND id = $2)",
    )
    .bind(item_ref.entity_type)
    .bind(item_ref.id)
    .fetch_all(&mut *tx)
    .await?;
    let triggers: Vec<Trigger> = rows.iter().map(trigger_from_row).collect::<Result<_, _>>()?;
    if !triggers.iter().any(|t| matches(happening, &t.trigger)) {
        return Ok(None);
    }
    let item = crm::get(tx, item_ref).await?;
    let (Some(category), Some(current)) = (item.category_id, item.stage_id.clone()) else {
        return Ok(None);
    };
    let stages = crm::stages(tx, item_ref.entity_type, category).await?;
    let position = |stage_id: &str| stages.iter().position(|s: &Stage| s.status_id == stage_id);
    let Some(here) = position(&current) else {
        return Ok(None);
    };
    let mut candidates: Vec<(usize, &Trigger)> = triggers
        .iter()
        .filter(|t| matches(happening, &t.trigger))
        .filter_map(|t| position(&t.stage_id).map(|at| (at, t)))
        .filter(|(at, t)| *at > here || (t.allow_backwards && *at != here))
        .collect();
    candidates.sort_by_key(|(at, t)| (*at, t.sort));
    let Some((_, winner)) = candidates
        .into_iter()
        .find(|(_, t)| t.condition.as_ref().is_none_or(|c| c.holds(&item).is_ok()))
    else {
        return Ok(None);
    };
    crm::record_event(
        tx,
        item_ref,
        "trigger_fired",
        json!({"trigger_id": winner.id, "stage_id": winner.stage_id}),
        now,
    )
    .await?;
    let changes = FieldChanges {
        stage_id: Some(winner.stage_id.clone()),
        ..FieldChanges::default()
    };
    Ok(Some(crm::update(tx, automation, item_ref, changes, now).await?))
}

/// Lets `no_activity` triggers move items that have been quiet long enough: every item in a
/// pipeline with such a trigger whose last event is at least that many days old. Returns how
/// many items moved.
pub async fn sweep_quiet(tx: &mut Tx, now: Millis) -> Result<usize, CrmError> {
    let mut moved = 0;
    for trigger in list(tx, None, None).await? {
        let TriggerKind::NoActivity { days } = trigger.trigger else {
            continue;
        };
        let quiet: Vec<i64> = store::query_scalar(
            "SELECT id FROM items WHERE entity_type = $1 AND category_id = $2 AND stage_id <> $3
               AND (SELECT MAX(e.created_at) FROM events e WHERE e.entity_type = items.entity_type AND e.item_id = items.id) <= $4",
        )
        .bind(&trigger.entity_type)
        .bind(trigger.category_id)
        .bind(&trigger.stage_id)
        .bind(now - days * 86_400_000)
        .fetch_all(&mut *tx)
        .await?;
        let entity_type = EntityType::parse(&trigger.entity_type)?;
        for id in quiet {
            if react(
                tx,
                &super::Engine,
                ItemRef { entity_type, id },
                &Happening::Quiet { days },
                now,
            )
            .await?
            .is_some()
            {
                moved += 1;
            }
        }
    }
    Ok(moved)
}

/// Registers an application's trigger code (`crm.automation.trigger.add`); registering a code
/// again renames it.
pub async fn register_app_trigger(tx: &mut Tx, code: &str, name: &str, now: Millis) -> Result<(), CrmError> {
    check_code(code)?;
    let name = crate::model::checked_name("NAME", name)?;
    store::query(
        "INSERT INTO app_triggers (code, name, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (code) DO UPDATE SET name = excluded.name",
    )
    .bind(code)
    .bind(name)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The registered application trigger codes and names.
pub async fn app_triggers(conn: &mut Conn) -> Result<Vec<(String, String)>, CrmError> {
    let rows = store::query("SELECT code, name FROM app_triggers ORDER BY code")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("code")?, row.try_get("name")?)))
        .collect()
}

/// Removes an application trigger code and the triggers that use it.
pub async fn delete_app_trigger(tx: &mut Tx, code: &str) -> Result<(), CrmError> {
    let deleted = store::query("DELETE FROM app_triggers WHERE code = $1")
        .bind(code)
        .execute(&mut *tx)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(CrmError::NotFound(format!("application trigger {code}")));
    }
    for trigger in list(tx, None, None).await? {
        if matches!(&trigger.trigger, TriggerKind::App { code: own } if own == code) {
            delete(tx, &trigger.id).await?;
        }
    }
    Ok(())
}
