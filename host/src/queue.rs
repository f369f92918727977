//! The run queue: robot runs as rows of `runs`, their states, and every statement that moves a
//! run from one state to the next. A run is the job while it is due and the record once it is
//! over (docs/decisions.md, "A run is one row").
//!
//! This module owns the table and its state machine and nothing else: what a run does and when
//! the next robot of a chain starts are the engine's (`rules`), and claiming, running and ending
//! runs is the scheduler's loop. Both come here for the SQL.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clock::Millis;
use crate::model::{CrmError, EntityType, Entry, ItemRef};
use crate::store::{self, Arg, Backend, Conn, Pool, Store, Tx, placeholders};

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// Due at its `due_at`; waiting for a worker to claim it.
    Pending,
    /// Chained after an earlier robot of its stay that has not ended yet; it has no due time.
    Waiting,
    /// Claimed by a worker, whose lease runs until `lease_until`.
    Running,
    /// Succeeded and asked to wait: it holds its chain until something happens to the item or
    /// its `due_at` passes.
    Parked,
    /// Over: the plugin returned its values and its changes were committed.
    Succeeded,
    /// Over: it failed for good (or its moment could not be worked out); `error` says why.
    Failed,
    /// Over: the item left the stage, or the item or robot was deleted, before it ran.
    Cancelled,
    /// Over: its condition did not hold when it was due.
    Skipped,
}

impl RunStatus {
    /// Every state.
    pub const ALL: [RunStatus; 8] = [
        Self::Pending,
        Self::Waiting,
        Self::Running,
        Self::Parked,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
        Self::Skipped,
    ];

    /// The state as `runs.status` stores it and the API shows it: the one mapping.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Waiting => "waiting",
            Self::Running => "running",
            Self::Parked => "parked",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Skipped => "skipped",
        }
    }

    /// Whether the run is over: it will not run again unless an admin retries it.
    pub fn is_over(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled | Self::Skipped)
    }

    /// `status = '<state>'`, for SQL that must name the state in its text (partial indexes are
    /// chosen by it).
    fn is(self) -> String {
        format!("status = '{self}'")
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that names no run state.
#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not a run status (pending, waiting, running, parked, succeeded, failed, cancelled, skipped)")]
pub struct UnknownStatus(String);

impl FromStr for RunStatus {
    type Err = UnknownStatus;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| UnknownStatus(text.to_string()))
    }
}

impl Serialize for RunStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RunStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One line of a run's log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct LogLine {
    /// "debug", "info", "warn" or "error".
    pub level: String,
    /// What it said.
    pub message: String,
}

/// A robot run: the job while pending, the record once finished.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RunRecord {
    /// The run id, also the idempotency key plugins get.
    pub id: String,
    /// The robot.
    pub robot_id: String,
    /// The item's entity type.
    pub entity_type: String,
    /// The item's id.
    pub item_id: i64,
    /// The stage whose entry scheduled the run.
    pub stage_id: String,
    /// The plugin.
    pub plugin_id: String,
    /// The plugin version that ran (set when it runs).
    pub plugin_version: Option<String>,
    /// pending, waiting, running, parked, succeeded, failed, cancelled or skipped.
    #[schema(value_type = String, example = "succeeded")]
    pub status: RunStatus,
    /// Attempts so far.
    pub attempt: i64,
    /// When it is (or was) due.
    pub due_at: Millis,
    /// When the last attempt started.
    pub started_at: Option<Millis>,
    /// When it finished.
    pub finished_at: Option<Millis>,
    /// How long the last attempt's sandboxed call took.
    pub duration_us: Option<i64>,
    /// Fuel the last attempt burned.
    pub fuel_used: Option<i64>,
    /// The plugin's log lines and the host's notes.
    pub logs: Vec<LogLine>,
    /// The return values, on success.
    #[schema(value_type = Option<Object>)]
    pub return_values: Option<Value>,
    /// Why it failed, was skipped or was cancelled.
    pub error: Option<String>,
    /// The stay in the stage that scheduled it: the id of the event that recorded the entry.
    pub entry_id: i64,
    /// Its place in scheduling order; within a stay, the stage's robot order.
    pub seq: i64,
    /// When the item entered the stage.
    pub entered_at: Millis,
    /// For a parked run, what happening to the item ends its wait early.
    pub wake_on: Option<Vec<String>>,
}

impl RunRecord {
    /// The item the run is for.
    pub fn item_ref(&self) -> Result<ItemRef, CrmError> {
        Ok(ItemRef {
            entity_type: EntityType::parse(&self.entity_type)?,
            id: self.item_id,
        })
    }
}

fn run_from_row(row: &store::Row) -> Result<RunRecord, CrmError> {
    let logs: String = row.try_get("logs")?;
    let values: Option<String> = row.try_get("return_values")?;
    let status: String = row.try_get("status")?;
    Ok(RunRecord {
        id: row.try_get("id")?,
        robot_id: row.try_get("robot_id")?,
        entity_type: row.try_get("entity_type")?,
        item_id: row.try_get("item_id")?,
        stage_id: row.try_get("stage_id")?,
        plugin_id: row.try_get("plugin_id")?,
        plugin_version: row.try_get("plugin_version")?,
        status: status
            .parse()
            .map_err(|e: UnknownStatus| CrmError::Invalid(format!("stored run: {e}")))?,
        attempt: row.try_get("attempt")?,
        due_at: row.try_get("due_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        duration_us: row.try_get("duration_us")?,
        fuel_used: row.try_get("fuel_used")?,
        logs: serde_json::from_str(&logs).unwrap_or_default(),
        return_values: values.and_then(|v| serde_json::from_str(&v).ok()),
        error: row.try_get("error")?,
        entry_id: row.try_get("entry_id")?,
        seq: row.try_get("seq")?,
        entered_at: row.try_get("entered_at")?,
        wake_on: row
            .try_get::<Option<String>, _>("wake_on")?
            .and_then(|w| serde_json::from_str(&w).ok()),
    })
}

/// The sequence that orders runs created in the same millisecond.
const RUN_SEQUENCE: &str = "run";

/// When a newly scheduled run is to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// At this moment.
    At(Millis),
    /// When the run before it in the stage finishes ([`start_waiting`] then gives it a time).
    AfterPrevious,
    /// Never: its moment could not be worked out (a date-based robot whose field is empty). The
    /// run is recorded as failed with the reason, so the admin sees why the robot did not run.
    Impossible(String),
}

impl From<Result<Millis, String>> for Due {
    fn from(due: Result<Millis, String>) -> Self {
        match due {
            Ok(at) => Self::At(at),
            Err(why) => Self::Impossible(why),
        }
    }
}

impl Due {
    /// The state, due time, end and error a run scheduled now for this moment starts with.
    fn start(self, now: Millis) -> (RunStatus, Millis, Option<Millis>, Option<String>) {
        match self {
            Due::At(due_at) => (RunStatus::Pending, due_at, None, None),
            Due::AfterPrevious => (RunStatus::Waiting, now, None, None),
            Due::Impossible(why) => (RunStatus::Failed, now, Some(now), Some(why)),
        }
    }
}

/// A run to schedule: which robot, for which item, in which stay.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    /// The robot.
    pub robot_id: &'a str,
    /// The robot's stage.
    pub stage_id: &'a str,
    /// The robot's plugin.
    pub plugin_id: &'a str,
    /// The item.
    pub item: ItemRef,
    /// When it is to run.
    pub due: Due,
    /// The stay it belongs to.
    pub entry: Entry,
}

/// Schedules one run; returns its id.
pub async fn enqueue(tx: &mut Tx, run: NewRun<'_>, now: Millis) -> Result<String, CrmError> {
    let id = format!("run_{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>());
    let seq = Store::next_id(tx, RUN_SEQUENCE).await?;
    let (status, due_at, finished_at, error) = run.due.start(now);
    store::query(
        "INSERT INTO runs (id, robot_id, entity_type, item_id, stage_id, plugin_id, status, due_at, finished_at, error,
             created_at, seq, entry_id, entered_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&id)
    .bind(run.robot_id)
    .bind(run.item.entity_type)
    .bind(run.item.id)
    .bind(run.stage_id)
    .bind(run.plugin_id)
    .bind(status.as_str())
    .bind(due_at)
    .bind(finished_at)
    .bind(error)
    .bind(now)
    .bind(seq)
    .bind(run.entry.id)
    .bind(run.entry.at)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

/// Every run of the stays in a stage the given runs belong to (a stay is one entry of an item
/// into a stage).
pub async fn runs_of_stays(tx: &mut Tx, runs: &[&RunRecord]) -> Result<Vec<RunRecord>, CrmError> {
    let sql = format!("SELECT * FROM runs WHERE entry_id IN ({})", placeholders(1, runs.len()));
    let mut query = store::query(&sql);
    for run in runs {
        query = query.bind(run.entry_id);
    }
    let rows = query.fetch_all(&mut *tx).await?;
    rows.iter().map(run_from_row).collect()
}

/// Gives a waiting run its due time (or fails it with the reason it has none).
pub async fn start_waiting(tx: &mut Tx, run: &RunRecord, due: Due, now: Millis) -> Result<(), CrmError> {
    if due == Due::AfterPrevious {
        return Ok(());
    }
    let (status, due_at, finished_at, error) = due.start(now);
    let sql = format!(
        "UPDATE runs SET status = $1, due_at = $2, finished_at = $3, error = $4 WHERE id = $5 AND {}",
        RunStatus::Waiting.is()
    );
    store::query(&sql)
        .bind(status.as_str())
        .bind(due_at)
        .bind(finished_at)
        .bind(error)
        .bind(&run.id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Cancels every pending, waiting or parked run of an item, recording why.
pub async fn cancel_pending(tx: &mut Tx, item: ItemRef, now: Millis) -> Result<(), CrmError> {
    let sql = format!(
        "UPDATE runs SET status = '{}', finished_at = $1, error = 'the item left the stage'
         WHERE entity_type = $2 AND item_id = $3 AND status IN ('{}', '{}', '{}')",
        RunStatus::Cancelled,
        RunStatus::Pending,
        RunStatus::Waiting,
        RunStatus::Parked
    );
    store::query(&sql)
        .bind(now)
        .bind(item.entity_type)
        .bind(item.id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Which runs to list; every part optional.
#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunFilter {
    /// Runs of items of this entity type.
    pub entity_type: Option<String>,
    /// Runs of this item (with `entity_type`).
    pub item_id: Option<i64>,
    /// Runs of this robot.
    pub robot_id: Option<String>,
    /// Runs of this plugin.
    pub plugin_id: Option<String>,
    /// Runs in this status: pending, waiting, running, parked, succeeded, failed, cancelled or
    /// skipped.
    #[param(value_type = Option<String>)]
    pub status: Option<RunStatus>,
    /// Runs due at or after this moment (ms since the epoch).
    pub due_from: Option<Millis>,
    /// Runs due before this moment.
    pub due_to: Option<Millis>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// Lists run records, newest first. Only the filter's given parts become conditions, so a
/// listing by item is served by the `runs_item` index instead of scanning every run.
pub async fn list(conn: &mut Conn, filter: &RunFilter) -> Result<Vec<RunRecord>, CrmError> {
    let text = |value: Option<&str>| value.map(|v| Arg::Text(Some(v.to_string())));
    let int = |value: Option<i64>| value.map(|v| Arg::Int(Some(v)));
    let given = [
        ("entity_type =", text(filter.entity_type.as_deref())),
        ("item_id =", int(filter.item_id)),
        ("robot_id =", text(filter.robot_id.as_deref())),
        ("plugin_id =", text(filter.plugin_id.as_deref())),
        ("status =", text(filter.status.map(RunStatus::as_str))),
        ("due_at >=", int(filter.due_from)),
        ("due_at <", int(filter.due_to)),
    ];
    let mut conditions = Vec::new();
    let mut args = Vec::new();
    for (condition, value) in given {
        if let Some(value) = value {
            args.push(value);
            conditions.push(format!("{condition} ${}", args.len()));
        }
    }
    args.push(Arg::Int(Some(filter.limit.unwrap_or(100).clamp(1, 1000))));
    let sql = format!(
        "SELECT * FROM runs {} ORDER BY created_at DESC, seq DESC LIMIT ${}",
        if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        },
        args.len()
    );
    let rows = store::Query::with_args(&sql, args).fetch_all(&mut *conn).await?;
    rows.iter().map(run_from_row).collect()
}

/// How many runs are in each unfinished state, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Pending and due now: what the workers should be running.
    pub due: i64,
    /// Pending and due later (delayed robots, retries).
    pub scheduled: i64,
    /// Waiting for the robot before them in their chain.
    pub waiting: i64,
    /// Claimed by a worker.
    pub running: i64,
    /// Parked by a `flow.wait`.
    pub parked: i64,
    /// When the oldest due run came due.
    pub oldest_due_at: Option<Millis>,
}

/// The unfinished runs by state, from the `runs_due` index.
pub async fn counts(conn: &mut Conn, now: Millis) -> Result<RunCounts, CrmError> {
    let rows = store::query(
        "SELECT CASE WHEN status = 'pending' AND due_at > $1 THEN 'scheduled' ELSE status END, COUNT(*), MIN(due_at)
         FROM runs WHERE status IN ('pending', 'waiting', 'running', 'parked') GROUP BY 1",
    )
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let mut counts = RunCounts::default();
    for row in rows {
        let (state, count): (String, i64) = (row.try_get(0usize)?, row.try_get(1usize)?);
        match state.as_str() {
            "pending" => {
                counts.due = count;
                counts.oldest_due_at = row.try_get(2usize)?;
            }
            "scheduled" => counts.scheduled = count,
            "waiting" => counts.waiting = count,
            "running" => counts.running = count,
            "parked" => counts.parked = count,
            _ => {}
        }
    }
    Ok(counts)
}

/// One run record.
pub async fn get(conn: &mut Conn, id: &str) -> Result<RunRecord, CrmError> {
    let row = store::query("SELECT * FROM runs WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref()
        .map(run_from_row)
        .unwrap_or_else(|| Err(CrmError::NotFound(format!("run {id}"))))
}

/// Puts a failed run back in line, due now, with its attempts counted afresh; it runs the newest
/// installed plugin version its robot allows. Answers the run as it now is.
pub async fn retry(tx: &mut Tx, id: &str, now: Millis) -> Result<RunRecord, CrmError> {
    let sql = format!(
        "UPDATE runs SET status = '{}', attempt = 0, due_at = $1, finished_at = NULL, lease_until = NULL, error = NULL
         WHERE id = $2 AND {} RETURNING *",
        RunStatus::Pending,
        RunStatus::Failed.is()
    );
    let row = store::query(&sql).bind(now).bind(id).fetch_optional(&mut *tx).await?;
    match row {
        Some(row) => run_from_row(&row),
        None => {
            let exists: Option<String> = store::query_scalar("SELECT status FROM runs WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            Err(match exists {
                Some(status) => CrmError::Invalid(format!("run {id} is {status}; only failed runs can be retried")),
                None => CrmError::NotFound(format!("run {id}")),
            })
        }
    }
}

/// Deletes runs that finished before `before`; returns how many. Only runs that are over
/// (succeeded, failed for good, skipped, cancelled) have a `finished_at`.
pub async fn forget_finished(tx: &mut Tx, before: Millis) -> Result<u64, CrmError> {
    let deleted = store::query("DELETE FROM runs WHERE finished_at < $1")
        .bind(before)
        .execute(&mut *tx)
        .await?;
    store::query("DELETE FROM app_calls WHERE NOT EXISTS (SELECT 1 FROM runs WHERE runs.id = app_calls.run_id)")
        .execute(&mut *tx)
        .await?;
    Ok(deleted.rows_affected())
}

/// The most runs one claim takes, whatever the settings say: the batch's reads bind an id per
/// run, and the database bounds the parameters of a statement.
pub const MAX_CLAIM_BATCH: usize = 1_000;

/// Runs whose worker's lease expired: a worker died (or hung) with them.
fn lease_expired() -> String {
    format!("{} AND lease_until < $1", RunStatus::Running.is())
}

/// Pending runs whose time has come.
fn pending_due() -> String {
    format!("{} AND due_at <= $1", RunStatus::Pending.is())
}

/// Parked runs whose time has come.
fn parked_due() -> String {
    format!("{} AND due_at <= $1", RunStatus::Parked.is())
}

/// The ids of runs in state `which` (one of [`lease_expired`], [`pending_due`]) a worker may
/// claim at time `$1`, walked in `(status, due_at, seq)` index order with `tail` (order, limit,
/// lock) applied. The two states are asked apart instead of in one OR: with an OR the database
/// sorts every due run on each claim, which made a backlog of 100,000 due runs drain at a few
/// runs a second.
///
/// No run of the same item scheduled before a claimable one may still be due or running (even
/// if its lease expired: that run is claimed first, and this one waits for it). An item's robots
/// thus run one at a time in the order they were scheduled, so one that moves the item cannot
/// overtake (and cancel) an earlier one, on any number of workers and hosts, and a batch never
/// holds two runs of one item.
fn claimable(which: &str, tail: &str) -> String {
    format!(
        "SELECT id FROM runs WHERE {which} AND NOT EXISTS (SELECT 1 FROM runs earlier
    WHERE earlier.entity_type = runs.entity_type AND earlier.item_id = runs.item_id AND earlier.seq < runs.seq
      AND ((earlier.status = '{}' AND earlier.due_at <= $1) OR earlier.status = '{}')) {tail}",
        RunStatus::Pending,
        RunStatus::Running
    )
}

/// Claims up to `limit` due runs for a worker until `lease_until` (first those whose worker's
/// lease expired), in the order they are to run.
pub async fn claim(
    tx: &mut Tx,
    now: Millis,
    lease_until: Millis,
    limit: usize,
    backend: Backend,
) -> Result<Vec<RunRecord>, CrmError> {
    let tail = format!(
        "ORDER BY due_at, seq LIMIT {} {}",
        limit.clamp(1, MAX_CLAIM_BATCH),
        backend.skip_locked()
    );
    let claim = format!(
        "UPDATE runs SET status = '{}', attempt = attempt + 1, lease_until = $2, started_at = $1
         WHERE id IN (SELECT id FROM ({}) AS expired UNION ALL SELECT id FROM ({}) AS due) RETURNING *",
        RunStatus::Running,
        claimable(&lease_expired(), &tail),
        claimable(&pending_due(), &tail)
    );
    let rows = store::query(&claim)
        .bind(now)
        .bind(lease_until)
        .fetch_all(&mut *tx)
        .await?;
    let mut claimed = rows.iter().map(run_from_row).collect::<Result<Vec<_>, _>>()?;
    claimed.sort_by_key(|run| (run.due_at, run.seq));
    Ok(claimed)
}

/// Whether a run is due or its lease expired.
pub async fn any_due(pool: &Pool, now: Millis) -> Result<bool, CrmError> {
    let due: Option<String> = store::query_scalar(&format!(
        "SELECT COALESCE(({}), ({}))",
        claimable(&lease_expired(), "ORDER BY due_at, seq LIMIT 1"),
        claimable(&pending_due(), "ORDER BY due_at, seq LIMIT 1")
    ))
    .bind(now)
    .fetch_one(pool)
    .await?;
    Ok(due.is_some())
}

/// How a claimed run ends, as written to its row.
#[derive(Debug)]
pub struct RunEnd<'a> {
    /// The run, as claimed.
    pub run: &'a RunRecord,
    /// Its new state: over, pending again (a retry), or parked.
    pub status: RunStatus,
    /// When it is due again (a retry, the end of a wait), or its old due time.
    pub due_at: Millis,
    /// The plugin version that ran.
    pub plugin_version: Option<&'a str>,
    /// How long the sandboxed call took.
    pub duration_us: Option<i64>,
    /// Fuel it burned.
    pub fuel_used: Option<i64>,
    /// Its log.
    pub logs: &'a [LogLine],
    /// Its return values, on success.
    pub return_values: Option<&'a Value>,
    /// Why it failed, was skipped or cancelled.
    pub error: Option<&'a str>,
    /// For a parked run, what ends its wait early.
    pub wake_on: Option<&'a [String]>,
    /// Put back unrun (its plugin held its share of the workers): its attempt is given back.
    pub deferred: bool,
}

/// The columns [`write_ends`] binds per run.
const END_COLUMNS: usize = 13;

/// Writes claimed runs' ends in one statement, each fenced by its attempt. Returns false if a
/// lease was lost to another worker meanwhile: the caller must then not commit.
pub async fn write_ends(tx: &mut Tx, ends: &[RunEnd<'_>], now: Millis) -> Result<bool, CrmError> {
    let rows = (0..ends.len())
        .map(|run| format!("({})", placeholders(run * END_COLUMNS + 1, END_COLUMNS)))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "UPDATE runs SET status = f.column2, due_at = f.column3, plugin_version = f.column4, lease_until = NULL,
                finished_at = f.column5, duration_us = f.column6, fuel_used = f.column7, logs = f.column8,
                return_values = f.column9, error = f.column10, wake_on = f.column11, attempt = f.column13
         FROM (VALUES {rows}) AS f
         WHERE runs.id = f.column1 AND runs.attempt = f.column12 AND runs.{}",
        RunStatus::Running.is()
    );
    let mut query = store::query(&sql);
    for end in ends {
        query = query
            .bind(end.run.id.as_str())
            .bind(end.status.as_str())
            .bind(end.due_at)
            .bind(end.plugin_version)
            .bind(end.status.is_over().then_some(now))
            .bind(end.duration_us)
            .bind(end.fuel_used)
            .bind(serde_json::to_string(end.logs).expect("log lines serialize"))
            .bind(end.return_values.map(Value::to_string))
            .bind(end.error)
            .bind(
                end.wake_on
                    .map(|w| serde_json::to_string(w).expect("strings serialize")),
            )
            .bind(end.run.attempt)
            .bind(end.run.attempt - i64::from(end.deferred));
    }
    let updated = query.execute(&mut *tx).await?.rows_affected();
    if updated < ends.len() as u64 {
        tracing::warn!(
            lost = ends.len() as u64 - updated,
            "a lease was lost before its run finished; the result is discarded"
        );
        return Ok(false);
    }
    Ok(true)
}

/// What the robots of each given run's stay in the stage returned so far, by robot id (a robot
/// that ran twice counts with its last values), keyed by (entity type, item id, entry id).
pub async fn stay_returns(
    conn: &mut Conn,
    runs: &[&RunRecord],
) -> Result<HashMap<(String, i64, i64), Map<String, Value>>, CrmError> {
    // The status is checked here, not in SQL: given `status = 'succeeded'`, SQLite would walk
    // every succeeded run in the status index instead of the few runs of these stays.
    let sql = format!(
        "SELECT entity_type, item_id, entry_id, robot_id, return_values, status FROM runs
         WHERE entry_id IN ({}) ORDER BY seq",
        placeholders(1, runs.len())
    );
    let mut query = store::query(&sql);
    for run in runs {
        query = query.bind(run.entry_id);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let mut returns: HashMap<_, Map<String, Value>> = HashMap::new();
    for row in rows {
        if row.try_get::<String, _>("status")? != RunStatus::Succeeded.as_str() {
            continue;
        }
        let stay = (
            row.try_get("entity_type")?,
            row.try_get("item_id")?,
            row.try_get("entry_id")?,
        );
        let values: Option<String> = row.try_get("return_values")?;
        let values = values
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or(Value::Null);
        returns
            .entry(stay)
            .or_default()
            .insert(row.try_get("robot_id")?, values);
    }
    Ok(returns)
}

/// Whether a parked run's wait has timed out.
pub async fn any_parked_due(pool: &Pool, now: Millis) -> Result<bool, CrmError> {
    let due: Option<String> = store::query_scalar(&format!("SELECT id FROM runs WHERE {} LIMIT 1", parked_due()))
        .bind(now)
        .fetch_optional(pool)
        .await?;
    Ok(due.is_some())
}

/// Up to `limit` parked runs whose wait has timed out, the oldest first.
pub async fn parked_due_runs(tx: &mut Tx, now: Millis, limit: usize) -> Result<Vec<RunRecord>, CrmError> {
    let sql = format!(
        "SELECT * FROM runs WHERE {} ORDER BY due_at LIMIT {limit}",
        parked_due()
    );
    let rows = store::query(&sql).bind(now).fetch_all(&mut *tx).await?;
    rows.iter().map(run_from_row).collect()
}

/// The item's parked runs.
pub async fn parked_of(tx: &mut Tx, item: ItemRef) -> Result<Vec<RunRecord>, CrmError> {
    let sql = format!(
        "SELECT * FROM runs WHERE entity_type = $1 AND item_id = $2 AND {}",
        RunStatus::Parked.is()
    );
    let rows = store::query(&sql)
        .bind(item.entity_type)
        .bind(item.id)
        .fetch_all(&mut *tx)
        .await?;
    rows.iter().map(run_from_row).collect()
}

/// How a parked run's wait ends.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitEnd<'a> {
    /// What ended it: a happening's kind, "timeout", or "app" (its app's answer).
    pub woke_by: &'a str,
    /// Values added to its return values (an app's answer).
    pub values: Map<String, Value>,
    /// A line added to its log (the app's log message).
    pub log: Option<String>,
}

impl<'a> WaitEnd<'a> {
    /// A wait ended by `woke_by` and nothing more.
    pub fn by(woke_by: &'a str) -> Self {
        Self {
            woke_by,
            values: Map::new(),
            log: None,
        }
    }
}

/// Ends a parked run as succeeded, with `end`'s values and `woke_by` added to its return values
/// and its line to its log. Returns whether it was still parked (and so ended now).
pub async fn end_parked(tx: &mut Tx, run: &RunRecord, end: &WaitEnd<'_>, now: Millis) -> Result<bool, CrmError> {
    let stored = match end.log {
        Some(_) => Some(get(tx, &run.id).await?),
        None => None,
    };
    let record = stored.as_ref().unwrap_or(run);
    let mut values = match &record.return_values {
        Some(Value::Object(values)) => values.clone(),
        _ => Map::new(),
    };
    values.extend(end.values.clone());
    values.insert("woke_by".into(), Value::from(end.woke_by));
    let mut logs = record.logs.clone();
    if let Some(message) = &end.log {
        logs.push(LogLine {
            level: "info".into(),
            message: message.clone(),
        });
    }
    let sql = format!(
        "UPDATE runs SET status = '{}', finished_at = $1, return_values = $2, logs = $3 WHERE id = $4 AND {}",
        RunStatus::Succeeded,
        RunStatus::Parked.is()
    );
    let ended = store::query(&sql)
        .bind(now)
        .bind(Value::Object(values).to_string())
        .bind(serde_json::to_string(&logs).expect("log lines serialize"))
        .bind(&run.id)
        .execute(&mut *tx)
        .await?;
    Ok(ended.rows_affected() == 1)
}

/// A run, its row locked until the transaction ends (on PostgreSQL; SQLite's one writer holds
/// everything anyway): a write that must not cross a worker's end of the same run takes it first.
pub async fn lock(tx: &mut Tx, id: &str) -> Result<Option<RunRecord>, CrmError> {
    let row = store::query("UPDATE runs SET status = status WHERE id = $1 RETURNING *")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    row.as_ref().map(run_from_row).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_through_its_stored_text() {
        for status in RunStatus::ALL {
            assert_eq!(status.as_str().parse::<RunStatus>().unwrap(), status);
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
            let back: RunStatus = serde_json::from_value(Value::from(status.as_str())).unwrap();
            assert_eq!(back, status);
        }
        assert!("done".parse::<RunStatus>().is_err());
    }

    #[test]
    fn only_ended_states_are_over() {
        let over: Vec<RunStatus> = RunStatus::ALL.into_iter().filter(|s| s.is_over()).collect();
        assert_eq!(
            over,
            [
                RunStatus::Succeeded,
                RunStatus::Failed,
                RunStatus::Cancelled,
                RunStatus::Skipped
            ]
        );
    }
}
