//! Robots: automation rules attached to a stage, and what entering or leaving a stage does.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;

use crate::clock::Millis;
use crate::model::{CrmError, EntityType, ItemRef};
use crate::scheduler;
use crate::store::{Conn, Tx};

/// A robot as stored and shown by the admin API.
#[derive(Debug, Clone, Serialize, PartialEq)]
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
    /// The plugin it runs (the newest installed version).
    pub plugin_id: String,
    /// The config handed to the plugin.
    pub config: Value,
    /// Its position among the stage's robots.
    pub sort: i64,
    /// When it was added.
    pub created_at: Millis,
}

/// A robot as the admin API receives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRobot {
    /// "deal", "lead", ...
    pub entity_type: String,
    /// The stage it is attached to.
    pub stage_id: String,
    /// Its name; defaults to the plugin id.
    pub name: Option<String>,
    /// The plugin to run.
    pub plugin_id: String,
    /// The plugin's config; an empty object when left out.
    #[serde(default = "empty_object")]
    pub config: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

fn robot_from_row(row: &sqlx::any::AnyRow) -> Result<Robot, CrmError> {
    let config: String = row.try_get("config")?;
    Ok(Robot {
        id: row.try_get("id")?,
        entity_type: row.try_get("entity_type")?,
        category_id: row.try_get("category_id")?,
        stage_id: row.try_get("stage_id")?,
        name: row.try_get("name")?,
        plugin_id: row.try_get("plugin_id")?,
        config: serde_json::from_str(&config).unwrap_or(Value::Null),
        sort: row.try_get("sort")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Adds a robot at the end of its stage's list. The caller has checked that the plugin exists.
pub async fn add(tx: &mut Tx, new: NewRobot, now: Millis) -> Result<Robot, CrmError> {
    let entity_type = EntityType::parse(&new.entity_type)?;
    let stage = crate::crm::stage(tx, entity_type, &new.stage_id).await?;
    if !new.config.is_object() {
        return Err(CrmError::Invalid("config must be a JSON object".into()));
    }
    let sort: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(sort), 0) + 10 FROM robots WHERE entity_type = $1 AND stage_id = $2")
            .bind(entity_type)
            .bind(&stage.status_id)
            .fetch_one(&mut **tx)
            .await?;
    let robot = Robot {
        id: format!("r_{:016x}", rand::random::<u64>()),
        entity_type: entity_type.to_string(),
        category_id: stage.category_id,
        stage_id: stage.status_id,
        name: new.name.unwrap_or_else(|| new.plugin_id.clone()),
        plugin_id: new.plugin_id,
        config: new.config,
        sort,
        created_at: now,
    };
    sqlx::query(
        "INSERT INTO robots (id, entity_type, category_id, stage_id, name, plugin_id, config, sort, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&robot.id)
    .bind(&robot.entity_type)
    .bind(robot.category_id)
    .bind(&robot.stage_id)
    .bind(&robot.name)
    .bind(&robot.plugin_id)
    .bind(robot.config.to_string())
    .bind(robot.sort)
    .bind(robot.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(robot)
}

/// One robot.
pub async fn get(conn: &mut Conn, id: &str) -> Result<Robot, CrmError> {
    let row = sqlx::query("SELECT * FROM robots WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| CrmError::NotFound(format!("robot {id}")))?;
    robot_from_row(&row)
}

/// The robots of an entity type, optionally of one stage, in run order.
pub async fn list(conn: &mut Conn, entity_type: Option<&str>, stage_id: Option<&str>) -> Result<Vec<Robot>, CrmError> {
    let rows = sqlx::query(
        "SELECT * FROM robots WHERE ($1 IS NULL OR entity_type = $1) AND ($2 IS NULL OR stage_id = $2)
         ORDER BY entity_type, stage_id, sort",
    )
    .bind(entity_type)
    .bind(stage_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(robot_from_row).collect()
}

/// Deletes a robot; its runs stay in the history.
pub async fn delete(tx: &mut Tx, id: &str) -> Result<(), CrmError> {
    let deleted = sqlx::query("DELETE FROM robots WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(CrmError::NotFound(format!("robot {id}")));
    }
    Ok(())
}

/// An item moved into a stage: its old stage's pending robots are cancelled and the new stage's
/// scheduled; returns how many were scheduled.
pub async fn enter_stage(tx: &mut Tx, item: ItemRef, stage_id: &str, now: Millis) -> Result<usize, CrmError> {
    leave_stage(tx, item, now).await?;
    schedule_robots(tx, item, stage_id, now).await
}

/// Schedules a stage's robots for an item in it (a new item has nothing pending to cancel);
/// returns how many were scheduled.
pub async fn schedule_robots(tx: &mut Tx, item: ItemRef, stage_id: &str, now: Millis) -> Result<usize, CrmError> {
    let robots = list(tx, Some(&item.entity_type.to_string()), Some(stage_id)).await?;
    for robot in &robots {
        scheduler::enqueue(tx, robot, item, now, now).await?;
    }
    Ok(robots.len())
}

/// An item left its stage (or was deleted): its pending robots are cancelled.
pub async fn leave_stage(tx: &mut Tx, item: ItemRef, now: Millis) -> Result<(), CrmError> {
    scheduler::cancel_pending(tx, item, now).await
}
