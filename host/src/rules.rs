//! Robots: automation rules attached to a stage, and what entering or leaving a stage does.
//!
//! When an item enters a stage, every robot of the stage that does not wait for the previous one
//! is scheduled at once, each due when its [`Timing`] says. A robot marked `after_previous` is
//! scheduled when the robot before it finishes (see [`continue_chains`]), its timing counted
//! from then. Leaving the stage cancels whatever is still pending. A robot's condition is
//! checked when it is about to run, and its config's templates are resolved then.

pub mod calendar;
pub mod condition;
pub mod template;
pub mod timing;
pub mod triggers;

use crate::store;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::Millis;
use crate::crm::{self, Automation, Change, Reaction};
use crate::model::{CrmError, EntityType, Entry, Item, ItemRef};
use crate::queue::{self, Due, NewRun, RunRecord, RunStatus};
use crate::store::{Conn, Pool, Tx, placeholders};

pub use condition::ConditionGroup;
pub use timing::Timing;

/// A robot as stored and shown by the admin API.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Robot {
    /// Its id ("r_" and 16 hex digits).
    pub id: String,
    /// The entity type whose stage it is attached to.
    pub entity_type: String,
    /// The pipeline of that stage.
    pub category_id: i64,
    /// The stage.
    pub stage_id: String,
    /// Its name for admin screens.
    pub name: String,
    /// The plugin it runs.
    pub plugin_id: String,
    /// Which versions of the plugin it may run (a semver requirement like "^1.2"); the newest
    /// installed version that matches runs. `None` takes the newest.
    pub plugin_version: Option<String>,
    /// The config handed to the plugin, templates unresolved.
    #[schema(value_type = Object)]
    pub config: Value,
    /// When it runs, counted from when it is scheduled.
    pub timing: Timing,
    /// What must hold for it to run, checked when it is due.
    pub condition: Option<ConditionGroup>,
    /// Whether it waits for the robot before it to finish.
    pub after_previous: bool,
    /// Its position among the stage's robots.
    pub sort: i64,
    /// When it was added.
    pub created_at: Millis,
}

/// A robot as the admin API receives it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRobot {
    /// "deal", "lead", "dynamic_128", ...
    pub entity_type: String,
    /// The stage it is attached to.
    pub stage_id: String,
    /// Its name; defaults to the plugin id.
    pub name: Option<String>,
    /// The plugin to run.
    pub plugin_id: String,
    /// A semver requirement on the plugin's version.
    pub plugin_version: Option<String>,
    /// The plugin's config; an empty object when left out.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub config: Value,
    /// When it runs; immediately when left out.
    #[serde(default)]
    pub timing: Timing,
    /// What must hold for it to run.
    pub condition: Option<ConditionGroup>,
    /// Whether it waits for the robot before it.
    #[serde(default)]
    pub after_previous: bool,
}

/// What `PUT /api/v1/robots/{id}` changes; fields left out stay. The stage and plugin stay:
/// a robot for another stage or plugin is a new robot.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RobotChanges {
    /// A new name.
    pub name: Option<String>,
    /// A new version requirement.
    pub plugin_version: Option<String>,
    /// A new config.
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    /// A new timing.
    pub timing: Option<Timing>,
    /// A new condition; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<ConditionGroup>)]
    pub condition: Option<Option<ConditionGroup>>,
    /// Whether it waits for the robot before it.
    pub after_previous: Option<bool>,
}

/// Tells "given as null" (`Some(None)`) from "left out" (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

fn robot_from_row(row: &store::Row) -> Result<Robot, CrmError> {
    let corrupt = |what: &str, e: serde_json::Error| CrmError::Invalid(format!("stored robot {what} is corrupt: {e}"));
    let config: String = row.try_get("config")?;
    let timing: String = row.try_get("timing")?;
    let condition: Option<String> = row.try_get("condition")?;
    Ok(Robot {
        id: row.try_get("id")?,
        entity_type: row.try_get("entity_type")?,
        category_id: row.try_get("category_id")?,
        stage_id: row.try_get("stage_id")?,
        name: row.try_get("name")?,
        plugin_id: row.try_get("plugin_id")?,
        plugin_version: row.try_get("plugin_version")?,
        config: serde_json::from_str(&config).map_err(|e| corrupt("config", e))?,
        timing: serde_json::from_str(&timing).map_err(|e| corrupt("timing", e))?,
        condition: condition
            .map(|c| serde_json::from_str(&c))
            .transpose()
            .map_err(|e| corrupt("condition", e))?,
        after_previous: row.try_get::<i64, _>("after_previous")? != 0,
        sort: row.try_get("sort")?,
        created_at: row.try_get("created_at")?,
    })
}

/// A robot's `plugin_version`, parsed: which versions of its plugin it may run.
pub fn version_requirement(text: Option<&str>) -> Result<Option<semver::VersionReq>, CrmError> {
    text.map(|text| {
        semver::VersionReq::parse(text)
            .map_err(|e| CrmError::Invalid(format!("plugin_version '{text}' is not a semver requirement: {e}")))
    })
    .transpose()
}

/// The field names a robot of `entity_type` may use in conditions and templates, and those of
/// them that hold dates (for date-based timing).
pub(crate) async fn robot_fields(
    conn: &mut Conn,
    entity_type: EntityType,
) -> Result<(Vec<String>, Vec<String>), CrmError> {
    let custom = crm::userfields::userfields(conn, entity_type).await?;
    let mut known: Vec<String> = ["ID", "CATEGORY_ID", "CREATED_BY_ID", entity_type.stage_field()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut dates = Vec::new();
    known.extend(entity_type.repeat_flags().iter().map(|flag| flag.name.to_string()));
    if entity_type.shows_is_new() {
        known.push(crate::model::IS_NEW_FIELD.into());
    }
    for spec in entity_type.fields() {
        known.push(spec.name.into());
        if spec.kind == crate::model::FieldKind::DateTime {
            dates.push(spec.name.into());
        }
    }
    for field in custom {
        if matches!(field.user_type.as_str(), "date" | "datetime") {
            dates.push(field.field_name.clone());
        }
        known.push(field.field_name);
    }
    Ok((known, dates))
}

/// Checks what a robot will do against its entity type: config an object, timing and condition
/// naming real fields, templates well-formed and naming real fields.
async fn check_robot(conn: &mut Conn, entity_type: EntityType, robot: &Robot) -> Result<(), CrmError> {
    if !robot.config.is_object() {
        return Err(CrmError::Invalid("config must be a JSON object".into()));
    }
    let (known, dates) = robot_fields(conn, entity_type).await?;
    robot.timing.check(&dates)?;
    if let Some(condition) = &robot.condition {
        condition.check(&known)?;
    }
    for reference in template::references(&robot.config).map_err(CrmError::Invalid)? {
        if let template::Reference::Document(field) | template::Reference::Linked { link: field, .. } = &reference
            && !known.contains(field)
        {
            return Err(CrmError::Invalid(format!(
                "template {{=Document:{field}}} names no field of {entity_type}"
            )));
        }
    }
    Ok(())
}

/// Adds a robot at the end of its stage's list. The caller has checked the plugin and the config
/// against the plugin's schema.
pub async fn add(tx: &mut Tx, new: NewRobot, now: Millis) -> Result<Robot, CrmError> {
    let entity_type = EntityType::parse(&new.entity_type)?;
    let stage = crm::stage(tx, entity_type, &new.stage_id).await?;
    let sort: i64 =
        store::query_scalar("SELECT COALESCE(MAX(sort), 0) + 10 FROM robots WHERE entity_type = $1 AND stage_id = $2")
            .bind(entity_type)
            .bind(&stage.status_id)
            .fetch_one(&mut *tx)
            .await?;
    let mut robot = Robot {
        id: format!("r_{:016x}", rand::random::<u64>()),
        entity_type: entity_type.to_string(),
        category_id: stage.category_id,
        stage_id: stage.status_id,
        name: new.name.unwrap_or_else(|| new.plugin_id.clone()),
        plugin_id: new.plugin_id,
        plugin_version: new.plugin_version,
        config: new.config,
        timing: new.timing,
        condition: new.condition,
        after_previous: new.after_previous,
        sort,
        created_at: now,
    };
    put(tx, &mut robot).await?;
    Ok(robot)
}

/// Stores a robot under its own id and sort, adding it or replacing the one with that id (which
/// keeps its creation time); its pipeline comes from its stage. What a configuration import uses
/// to make a robot exactly as the file has it. The caller has checked the plugin.
pub async fn put(tx: &mut Tx, robot: &mut Robot) -> Result<(), CrmError> {
    let entity_type = EntityType::parse(&robot.entity_type)?;
    let stage = crm::stage(tx, entity_type, &robot.stage_id).await?;
    robot.entity_type = entity_type.to_string();
    robot.category_id = stage.category_id;
    robot.stage_id = stage.status_id;
    check_robot(tx, entity_type, robot).await?;
    store::query(
        "INSERT INTO robots (id, entity_type, category_id, stage_id, name, plugin_id, plugin_version, config, timing,
             condition, after_previous, sort, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (id) DO UPDATE SET entity_type = excluded.entity_type, category_id = excluded.category_id,
             stage_id = excluded.stage_id, name = excluded.name, plugin_id = excluded.plugin_id,
             plugin_version = excluded.plugin_version, config = excluded.config, timing = excluded.timing,
             condition = excluded.condition, after_previous = excluded.after_previous, sort = excluded.sort",
    )
    .bind(&robot.id)
    .bind(&robot.entity_type)
    .bind(robot.category_id)
    .bind(&robot.stage_id)
    .bind(&robot.name)
    .bind(&robot.plugin_id)
    .bind(&robot.plugin_version)
    .bind(robot.config.to_string())
    .bind(to_json(&robot.timing))
    .bind(robot.condition.as_ref().map(to_json))
    .bind(i64::from(robot.after_previous))
    .bind(robot.sort)
    .bind(robot.created_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Changes a robot in place; runs already scheduled keep their due time, and pick up the new
/// config and condition when they run.
pub async fn update(tx: &mut Tx, id: &str, changes: RobotChanges) -> Result<Robot, CrmError> {
    let mut robot = get(tx, id).await?;
    let entity_type = EntityType::parse(&robot.entity_type)?;
    if let Some(name) = changes.name {
        robot.name = name;
    }
    if let Some(version) = changes.plugin_version {
        robot.plugin_version = Some(version);
    }
    if let Some(config) = changes.config {
        robot.config = config;
    }
    if let Some(timing) = changes.timing {
        robot.timing = timing;
    }
    if let Some(condition) = changes.condition {
        robot.condition = condition;
    }
    if let Some(after_previous) = changes.after_previous {
        robot.after_previous = after_previous;
    }
    check_robot(tx, entity_type, &robot).await?;
    store::query(
        "UPDATE robots SET name = $1, plugin_version = $2, config = $3, timing = $4, condition = $5, after_previous = $6
         WHERE id = $7",
    )
    .bind(&robot.name)
    .bind(&robot.plugin_version)
    .bind(robot.config.to_string())
    .bind(to_json(&robot.timing))
    .bind(robot.condition.as_ref().map(to_json))
    .bind(i64::from(robot.after_previous))
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Ok(robot)
}

/// Puts a stage's robots in the given order; the list must name each of them once.
pub async fn reorder(tx: &mut Tx, entity_type: &str, stage_id: &str, order: &[String]) -> Result<Vec<Robot>, CrmError> {
    let current = list(tx, Some(entity_type), Some(stage_id)).await?;
    let mut wanted: Vec<&String> = order.iter().collect();
    wanted.sort();
    let mut have: Vec<&String> = current.iter().map(|r| &r.id).collect();
    have.sort();
    if wanted != have {
        return Err(CrmError::Invalid(format!(
            "the new order must name each robot of stage {stage_id} once: {}",
            current.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    for (position, id) in order.iter().enumerate() {
        store::query("UPDATE robots SET sort = $1 WHERE id = $2")
            .bind((position as i64 + 1) * 10)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    list(tx, Some(entity_type), Some(stage_id)).await
}

/// One robot.
pub async fn get(conn: &mut Conn, id: &str) -> Result<Robot, CrmError> {
    let row = store::query("SELECT * FROM robots WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| CrmError::NotFound(format!("robot {id}")))?;
    robot_from_row(&row)
}

/// Reads many robots at once (for a batch of robot runs); deleted ones are left out.
pub async fn get_many(conn: &mut Conn, ids: &[&str]) -> Result<Vec<Robot>, CrmError> {
    let sql = format!("SELECT * FROM robots WHERE id IN ({})", placeholders(1, ids.len()));
    let mut query = store::query(&sql);
    for id in ids {
        query = query.bind(*id);
    }
    query.fetch_all(&mut *conn).await?.iter().map(robot_from_row).collect()
}

/// The robots of an entity type, optionally of one stage, in run order.
pub async fn list(conn: &mut Conn, entity_type: Option<&str>, stage_id: Option<&str>) -> Result<Vec<Robot>, CrmError> {
    let (filter, args) = store::equal_filters(&[("entity_type", entity_type), ("stage_id", stage_id)]);
    let sql = format!("SELECT * FROM robots{filter} ORDER BY entity_type, stage_id, sort");
    let rows = store::Query::with_args(&sql, args).fetch_all(&mut *conn).await?;
    rows.iter().map(robot_from_row).collect()
}

/// Deletes a robot; its runs stay in the history.
pub async fn delete(tx: &mut Tx, id: &str) -> Result<(), CrmError> {
    let deleted = store::query("DELETE FROM robots WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(CrmError::NotFound(format!("robot {id}")));
    }
    Ok(())
}

/// An item moved into a stage: its old stage's pending robots are cancelled and the new stage's
/// scheduled; returns how many were scheduled.
pub async fn enter_stage(
    tx: &mut Tx,
    item: ItemRef,
    stage_id: &str,
    entry: Entry,
    now: Millis,
) -> Result<usize, CrmError> {
    leave_stage(tx, item, now).await?;
    schedule_robots(tx, item, stage_id, entry, now).await
}

/// Schedules the robots of a stage an item just entered (a new item has nothing pending to
/// cancel), in the stage's order: each robot that does not wait for the one before it is due
/// when its timing says; each that does gets a waiting run. Returns how many were scheduled.
pub async fn schedule_robots(
    tx: &mut Tx,
    item_ref: ItemRef,
    stage_id: &str,
    entry: Entry,
    now: Millis,
) -> Result<usize, CrmError> {
    let robots = list(tx, Some(&item_ref.entity_type.to_string()), Some(stage_id)).await?;
    if robots.is_empty() {
        return Ok(0);
    }
    let item = crm::get(tx, item_ref).await?;
    let calendar = calendar::load(tx).await?;
    for robot in &robots {
        let due = if robot.after_previous {
            Due::AfterPrevious
        } else {
            robot.timing.due_at(now, &item, &calendar).into()
        };
        let run = NewRun {
            robot_id: &robot.id,
            stage_id: &robot.stage_id,
            plugin_id: &robot.plugin_id,
            item: item_ref,
            due,
            entry,
        };
        queue::enqueue(tx, run, now).await?;
    }
    Ok(robots.len())
}

/// Runs ended (succeeded, failed for good, skipped or cancelled): the robot after each in its
/// stage, if it waits for that one, is due from now by its own timing; one whose moment cannot be
/// worked out fails, and the one after it starts in turn. Robots added after the item entered
/// the stage have no waiting run, so they do not run for it; leaving the stage cancelled the
/// waiting runs, so a chain never outlives its stay.
pub async fn continue_chains(tx: &mut Tx, finished: &[&RunRecord], now: Millis) -> Result<(), CrmError> {
    if finished.is_empty() {
        return Ok(());
    }
    let stays = queue::runs_of_stays(tx, finished).await?;
    for run in finished {
        let mut previous = *run;
        while let Some(waiting) = next_in_stay(&stays, previous).filter(|next| next.status == RunStatus::Waiting) {
            let due = match get(tx, &waiting.robot_id).await {
                Ok(robot) => match robot.timing.due_at_alone(now) {
                    Some(due) => due.into(),
                    None => {
                        let item: Item = crm::get(tx, waiting.item_ref()?).await?;
                        robot.timing.due_at(now, &item, &calendar::load(tx).await?).into()
                    }
                },
                Err(CrmError::NotFound(_)) => Due::Impossible("the robot was deleted".into()),
                Err(e) => return Err(e),
            };
            let impossible = matches!(due, Due::Impossible(_));
            queue::start_waiting(tx, waiting, due, now).await?;
            if !impossible {
                break;
            }
            previous = waiting;
        }
    }
    Ok(())
}

/// The run right after `run` in its stay, among `stays`.
fn next_in_stay<'a>(stays: &'a [RunRecord], run: &RunRecord) -> Option<&'a RunRecord> {
    stays
        .iter()
        .filter(|other| {
            other.entity_type == run.entity_type
                && other.item_id == run.item_id
                && other.entry_id == run.entry_id
                && other.seq > run.seq
        })
        .min_by_key(|other| other.seq)
}

/// What a robot would do if the item entered a stage at a given moment: Bitrix24's test mode,
/// with time travel.
#[derive(Debug, Clone, Serialize)]
pub struct SimulatedRun {
    /// The robot.
    pub robot_id: String,
    /// Its name.
    pub name: String,
    /// Its plugin.
    pub plugin_id: String,
    /// When it would be due, assuming each robot it waits for runs the moment it is due; or
    /// why it has no moment.
    pub due_at: Result<Millis, String>,
    /// Whether its condition would hold for the item as it is now, and if not, why.
    pub condition: Result<(), String>,
    /// Its config with templates resolved; a value an earlier robot would return shows as a
    /// placeholder naming that robot.
    pub config: Result<Value, String>,
}

/// Simulates the item entering `stage_id` at `at`: which of the stage's robots would run, when,
/// and with which config. Nothing is written.
pub async fn simulate(
    pool: &Pool,
    item_ref: ItemRef,
    stage_id: &str,
    at: Millis,
) -> Result<Vec<SimulatedRun>, CrmError> {
    let conn = &mut pool.acquire().await?;
    let mut item = crm::get(conn, item_ref).await?;
    let stage = crm::stage(conn, item_ref.entity_type, stage_id).await?;
    if Some(stage.category_id) != item.category_id {
        return Err(CrmError::Invalid(format!(
            "stage {stage_id} is not in the item's pipeline {}",
            item.category_id.unwrap_or_default()
        )));
    }
    item.stage_id = Some(stage.status_id.clone());
    let robots = list(conn, Some(&item_ref.entity_type.to_string()), Some(&stage.status_id)).await?;
    let mut placeholders = serde_json::Map::new();
    for robot in &robots {
        for reference in template::references(&robot.config).unwrap_or_default() {
            if let template::Reference::Returned { robot_id, key } = reference {
                let values = placeholders
                    .entry(robot_id.clone())
                    .or_insert_with(|| Value::Object(Default::default()));
                values[&key] = Value::String(format!("(returned by {robot_id} when it runs)"));
            }
        }
    }
    let calendar = calendar::load(conn).await?;
    let mut previous_due = Ok(at);
    let mut links = template::LinkedRecords::new(pool);
    let mut simulated = Vec::with_capacity(robots.len());
    for robot in robots {
        let base = if robot.after_previous {
            previous_due.clone()
        } else {
            Ok(at)
        };
        let due_at = base.and_then(|base| robot.timing.due_at(base, &item, &calendar));
        let config =
            template::resolve_config(&mut links, &robot, &item, &placeholders, due_at.clone().unwrap_or(at)).await?;
        previous_due = due_at.clone();
        simulated.push(SimulatedRun {
            condition: robot.condition.as_ref().map_or(Ok(()), |c| c.holds(&item)),
            robot_id: robot.id,
            name: robot.name,
            plugin_id: robot.plugin_id,
            due_at,
            config,
        });
    }
    Ok(simulated)
}

/// An item left its stage (or was deleted): its pending robots are cancelled.
pub async fn leave_stage(tx: &mut Tx, item: ItemRef, now: Millis) -> Result<(), CrmError> {
    queue::cancel_pending(tx, item, now).await
}

/// Something happened to the item (`kind`: "activity", "comment", "task", "change"): its parked
/// runs that wait for it succeed, and their chains go on. Returns how many woke.
pub async fn wake_parked(tx: &mut Tx, item: ItemRef, kind: &str, now: Millis) -> Result<usize, CrmError> {
    let mut woke = 0;
    for run in queue::parked_of(tx, item).await? {
        if run
            .wake_on
            .as_ref()
            .is_some_and(|kinds| kinds.iter().any(|k| k == kind))
        {
            end_wait(tx, &run, &queue::WaitEnd::by(kind), now).await?;
            woke += 1;
        }
    }
    Ok(woke)
}

/// Ends a parked run's wait (by a happening, the timeout or its app's answer) and lets the robot
/// after it in the stage start.
pub async fn end_wait(tx: &mut Tx, run: &RunRecord, end: &queue::WaitEnd<'_>, now: Millis) -> Result<(), CrmError> {
    if queue::end_parked(tx, run, end, now).await? {
        continue_chains(tx, &[run], now).await?;
    }
    Ok(())
}

/// The automation engine as the CRM sees it ([`crm::automation`]): entering a stage schedules
/// its robots, leaving it cancels what is pending, and a happening ends the waits for it and
/// lets the pipeline's triggers move the item.
pub struct Engine;

impl Automation for Engine {
    fn react<'a>(&'a self, tx: &'a mut Tx, item: ItemRef, change: Change<'a>, now: Millis) -> Reaction<'a> {
        Box::pin(async move {
            match change {
                Change::Placed { stage_id, entry } => {
                    crate::returns::on_entered(tx, item, stage_id, now).await?;
                    schedule_robots(tx, item, stage_id, entry, now).await
                }
                Change::Moved { stage_id, entry } => {
                    crate::returns::on_entered(tx, item, stage_id, now).await?;
                    enter_stage(tx, item, stage_id, entry, now).await
                }
                Change::Deleted => {
                    crate::returns::on_deleted(tx, item, now).await?;
                    leave_stage(tx, item, now).await.map(|()| 0)
                }
                Change::Happened(happening) => Ok(triggers::react(tx, self, item, happening, now)
                    .await?
                    .map_or(0, |moved| moved.robots_scheduled)),
            }
        })
    }
}
