//! The durable scheduler. A robot run is a row in `runs`: pending until due, then claimed with a
//! lease by a worker, run in the sandbox, and finished in one transaction with the plugin's
//! staged writes. A host that dies mid-run leaves a lease that expires, and another worker takes
//! the run over; the attempt number fences out the stale holder's commit. A run whose plugin
//! asked to wait ends `parked`, holding its stage's chain until something happens to the item or
//! its time passes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::store;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::clock::{Clock, Millis};
use crate::crm;
use crate::model::{CrmError, EntityType, Item, ItemRef};
use crate::rules::{self, Robot, template, triggers};
use crate::runtime::bindings::stagewright::action::types::Invocation;
use crate::runtime::{LogLine, Plugin, RunOutcome, RunResult, Runtime, StagedChange, to_wit_item};
use crate::store::{Arg, Backend, Conn, Store, StoreError, Syncing, Tx, placeholders};

/// How the scheduler paces itself.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerSettings {
    /// Concurrent workers in this host.
    pub workers: usize,
    /// Most runs a worker claims in one transaction and finishes in one more; 1 gives every run
    /// transactions of its own. Larger batches pay the database's per-transaction cost once for
    /// many runs, at the price of holding the lease on the later ones of a batch a little longer.
    pub claim_batch: usize,
    /// How long a claim holds a run before another worker may take it over.
    pub lease: Duration,
    /// How often an idle worker looks for runs that came due without a wake-up.
    pub poll: Duration,
    /// Attempts before a run that keeps failing transiently is left failed.
    pub max_attempts: i64,
    /// Delay before the first retry; doubles per attempt, with jitter, up to an hour.
    pub retry_base: Duration,
    /// How long finished runs stay in the history.
    pub retention: Duration,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            workers: 8,
            claim_batch: 128,
            lease: Duration::from_secs(60),
            poll: Duration::from_millis(500),
            max_attempts: 5,
            retry_base: Duration::from_secs(10),
            retention: Duration::from_secs(365 * 86_400),
        }
    }
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
    /// pending, running, succeeded, failed or cancelled.
    pub status: String,
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

/// One stay of an item in a stage, which a chain of robots belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The id of the event that recorded the entry (item added, or stage changed).
    pub id: i64,
    /// When it happened.
    pub at: Millis,
}

fn run_from_row(row: &store::Row) -> Result<RunRecord, CrmError> {
    let logs: String = row.try_get("logs")?;
    let values: Option<String> = row.try_get("return_values")?;
    Ok(RunRecord {
        id: row.try_get("id")?,
        robot_id: row.try_get("robot_id")?,
        entity_type: row.try_get("entity_type")?,
        item_id: row.try_get("item_id")?,
        stage_id: row.try_get("stage_id")?,
        plugin_id: row.try_get("plugin_id")?,
        plugin_version: row.try_get("plugin_version")?,
        status: row.try_get("status")?,
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

/// Schedules one run of `robot` for `item` in the stay `entry`.
pub async fn enqueue(
    tx: &mut Tx,
    robot: &Robot,
    item: ItemRef,
    due: Due,
    entry: Entry,
    now: Millis,
) -> Result<String, CrmError> {
    let id = format!("run_{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>());
    let seq = Store::next_id(tx, RUN_SEQUENCE).await?;
    let (status, due_at, finished_at, error) = match due {
        Due::At(due_at) => ("pending", due_at, None, None),
        Due::AfterPrevious => ("waiting", now, None, None),
        Due::Impossible(why) => ("failed", now, Some(now), Some(why)),
    };
    store::query(
        "INSERT INTO runs (id, robot_id, entity_type, item_id, stage_id, plugin_id, status, due_at, finished_at, error,
             created_at, seq, entry_id, entered_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&id)
    .bind(&robot.id)
    .bind(item.entity_type)
    .bind(item.id)
    .bind(&robot.stage_id)
    .bind(&robot.plugin_id)
    .bind(status)
    .bind(due_at)
    .bind(finished_at)
    .bind(error)
    .bind(now)
    .bind(seq)
    .bind(entry.id)
    .bind(entry.at)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

/// Every run of the stays in a stage the given runs belong to (a stay is one entry of an item
/// into a stage), for [`rules::continue_chains`] to find the run after each.
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
    let (status, due_at, finished_at, error) = match due {
        Due::At(due_at) => ("pending", due_at, None, None),
        Due::AfterPrevious => return Ok(()),
        Due::Impossible(why) => ("failed", now, Some(now), Some(why)),
    };
    store::query(
        "UPDATE runs SET status = $1, due_at = $2, finished_at = $3, error = $4 WHERE id = $5 AND status = 'waiting'",
    )
    .bind(status)
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
    store::query(
        "UPDATE runs SET status = 'cancelled', finished_at = $1, error = 'the item left the stage'
         WHERE entity_type = $2 AND item_id = $3 AND status IN ('pending', 'waiting', 'parked')",
    )
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
    /// Runs in this status.
    pub status: Option<String>,
    /// Runs due at or after this moment (ms since the epoch).
    pub due_from: Option<Millis>,
    /// Runs due before this moment.
    pub due_to: Option<Millis>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// Lists run records, newest first. Only the filter's given parts become conditions, so a
/// listing by item is served by the `runs_item` index instead of scanning every run.
pub async fn list_runs(conn: &mut Conn, filter: &RunFilter) -> Result<Vec<RunRecord>, CrmError> {
    let text = |value: &Option<String>| value.clone().map(|v| Arg::Text(Some(v)));
    let int = |value: Option<i64>| value.map(|v| Arg::Int(Some(v)));
    let given = [
        ("entity_type =", text(&filter.entity_type)),
        ("item_id =", int(filter.item_id)),
        ("robot_id =", text(&filter.robot_id)),
        ("plugin_id =", text(&filter.plugin_id)),
        ("status =", text(&filter.status)),
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

/// Puts a failed run back in line, due now, with its attempts counted afresh; it runs the newest
/// installed plugin version its robot allows. Answers the run as it now is.
pub async fn retry(tx: &mut Tx, id: &str, now: Millis) -> Result<RunRecord, CrmError> {
    let row = store::query(
        "UPDATE runs SET status = 'pending', attempt = 0, due_at = $1, finished_at = NULL, lease_until = NULL, error = NULL
         WHERE id = $2 AND status = 'failed' RETURNING *",
    )
    .bind(now)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
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
    Ok(deleted.rows_affected())
}

/// A run this worker holds the lease of.
struct Claimed {
    record: RunRecord,
}

/// How a claimed run ends, as written to its row.
struct Finish {
    status: &'static str,
    due_at: Millis,
    plugin_version: Option<String>,
    /// The writes the run staged, applied with its end; empty unless it succeeded.
    changes: Vec<StagedChange>,
    outcome: Option<RunOutcome>,
    return_values: Option<Value>,
    error: Option<String>,
}

impl Finish {
    /// Whether the run is over (not to be retried, not parked).
    fn ended(&self) -> bool {
        !matches!(self.status, "pending" | "parked")
    }
}

/// Why a batch's ends could not be written together.
#[derive(Debug, thiserror::Error)]
enum BatchFinishError {
    /// A statement failed (a change that cannot be applied, or the database).
    #[error(transparent)]
    Crm(#[from] CrmError),
    /// Another worker took a run over meanwhile; its changes must not be committed.
    #[error("the lease of a run was lost")]
    LeaseLost,
}

/// The most runs one claim takes, whatever the settings say: the batch's reads bind an id per
/// run, and the database bounds the parameters of a statement.
const MAX_CLAIM_BATCH: usize = 1_000;

/// What a batch's runs read before they run, read once for the whole batch: a robot with many
/// due runs is read once, and the items and the return values of the runs' stays take a query
/// each instead of one per run. Reading them at the start changes nothing the runs see: none of
/// the batch's writes commits before the batch ends.
#[derive(Default)]
struct BatchReads {
    robots: HashMap<String, Robot>,
    items: HashMap<ItemRef, Item>,
    /// What earlier robots of each stay returned, by (entity type, item id, entry id).
    returns: HashMap<(String, i64, i64), Map<String, Value>>,
}

impl BatchReads {
    async fn read(conn: &mut Conn, batch: &[Claimed]) -> Result<Self, CrmError> {
        let mut robot_ids: Vec<&str> = batch.iter().map(|c| c.record.robot_id.as_str()).collect();
        robot_ids.sort_unstable();
        robot_ids.dedup();
        let robots = rules::get_many(conn, &robot_ids).await?;
        let item_refs: Vec<ItemRef> = batch.iter().filter_map(|c| c.record.item_ref().ok()).collect();
        let items = crm::get_many(conn, &item_refs).await?;
        Ok(Self {
            robots: robots.into_iter().map(|robot| (robot.id.clone(), robot)).collect(),
            items: items.into_iter().map(|item| (item.item_ref, item)).collect(),
            returns: stay_returns(conn, batch).await?,
        })
    }
}

/// Claims due runs and runs them.
pub struct Scheduler {
    store: Store,
    runtime: Arc<Runtime>,
    clock: Clock,
    settings: SchedulerSettings,
    wake: Notify,
    /// When quiet items were last swept for `no_activity` triggers.
    last_sweep: AtomicI64,
}

/// How often (in clock time) quiet items and old run records are swept.
const QUIET_SWEEP_EVERY_MS: Millis = 60_000;

impl Scheduler {
    /// A scheduler over the given store and runtime.
    pub fn new(store: Store, runtime: Arc<Runtime>, clock: Clock, settings: SchedulerSettings) -> Self {
        Self {
            store,
            runtime,
            clock,
            settings,
            wake: Notify::new(),
            last_sweep: AtomicI64::new(i64::MIN / 2),
        }
    }

    /// Tells a worker that runs may have come due (after a commit that scheduled some, or a move
    /// of the manual clock). One is enough: a worker that claims a full batch wakes another, and
    /// a worker claims again after every batch, so what its own runs made due it runs itself.
    /// Waking every worker for one run had them all queue for the writer to find nothing, each
    /// wake-up a thread switch to another CPU.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Starts the workers; they stop when their handles are aborted.
    pub fn spawn_workers(self: &Arc<Self>) -> Vec<JoinHandle<()>> {
        (0..self.settings.workers)
            .map(|_| {
                let scheduler = self.clone();
                tokio::spawn(async move { scheduler.work().await })
            })
            .collect()
    }

    async fn work(&self) {
        loop {
            if let Err(e) = self.sweep().await {
                tracing::error!(error = %e, "sweep of quiet items and old runs failed; retrying shortly");
            }
            if let Err(e) = self.run_due().await {
                tracing::error!(error = %e, "scheduler worker failed; retrying shortly");
            }
            // A wake-up while this worker was busy and no other was waiting left a permit, so this
            // returns at once and no run it announced waits for the poll.
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.settings.poll) => {}
            }
        }
    }

    /// Lets `no_activity` triggers move quiet items and forgets run records older than the
    /// retention, at most once per minute of clock time across this host's workers.
    async fn sweep(&self) -> Result<(), CrmError> {
        let now = self.clock.now();
        let last = self.last_sweep.load(Ordering::SeqCst);
        if now - last < QUIET_SWEEP_EVERY_MS
            || self
                .last_sweep
                .compare_exchange(last, now, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
        {
            return Ok(());
        }
        let retention = i64::try_from(self.settings.retention.as_millis()).unwrap_or(i64::MAX);
        let mut tx = self.store.write().await?;
        let moved = triggers::sweep_quiet(&mut tx, now).await?;
        let forgotten = forget_finished(&mut tx, now.saturating_sub(retention)).await?;
        tx.commit().await?;
        if moved > 0 || forgotten > 0 {
            tracing::info!(moved, forgotten, "swept quiet items and old run records");
        }
        Ok(())
    }

    /// Ends the waits that timed out, then claims due runs a batch at a time and runs them
    /// until none is left; returns how many ran. The transaction that writes a batch's ends
    /// claims the next batch, so a batch costs one commit, and the next robot of a chain, made
    /// due by that very transaction, starts without waiting for a wake-up. Nor does it wait for
    /// that commit to reach the disk, unless the next batch is full: the sync runs while the next
    /// batch does, and the worker waits for the last one before it rests. A full batch means a
    /// backlog, where waiting leaves the CPU to the other workers, whose commits share the sync
    /// (docs/decisions.md, "A chain does not wait for the disk between its robots").
    pub async fn run_due(&self) -> Result<usize, CrmError> {
        self.end_timed_out_waits().await?;
        let mut ran = 0;
        let mut syncing = None;
        let (mut batch, mut reads) = self.claim().await?;
        while !batch.is_empty() {
            if batch.len() >= self.settings.claim_batch {
                self.wake();
            }
            ran += batch.len();
            let ended = self.attempt_all(batch, &reads).await;
            let sync;
            (batch, reads, sync) = self.finish_and_claim(ended).await?;
            if batch.len() >= self.settings.claim_batch {
                sync.on_disk().await?;
            } else {
                syncing = Some(tokio::spawn(sync.on_disk()));
            }
        }
        if let Some(syncing) = syncing {
            syncing.await.map_err(|_| StoreError::Closed)??;
        }
        Ok(ran)
    }

    /// Runs a claimed batch; nothing is written yet.
    async fn attempt_all(&self, batch: Vec<Claimed>, reads: &BatchReads) -> Vec<(Claimed, Finish)> {
        let mut ended = Vec::with_capacity(batch.len());
        for claimed in batch {
            let finish = self.attempt(&claimed, reads).await;
            ended.push((claimed, finish));
        }
        ended
    }

    /// Parked runs whose time passed succeed with `woke_by: "timeout"`. A read first asks
    /// whether there is one, as in [`Self::claim`].
    async fn end_timed_out_waits(&self) -> Result<(), CrmError> {
        let now = self.clock.now();
        let due: Option<String> = store::query_scalar(&format!("SELECT id FROM runs WHERE {PARKED_DUE} LIMIT 1"))
            .bind(now)
            .fetch_optional(self.store.pool())
            .await?;
        if due.is_none() {
            return Ok(());
        }
        let mut tx = self.store.write().await?;
        let rows = store::query(&format!(
            "SELECT * FROM runs WHERE {PARKED_DUE} ORDER BY due_at LIMIT 500"
        ))
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            end_parked(&mut tx, &run_from_row(row)?, "timeout", now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Claims up to a batch of due runs (first those whose worker's lease expired), in the order
    /// they are to run, with what they read before running, read in the claim's transaction: on
    /// SQLite the writer connection has just written those pages, where a read connection's cache
    /// was emptied by the last commit. On PostgreSQL a read first asks whether there is a due run,
    /// so the many wake-ups of many hosts that find nothing never queue for a write; on SQLite
    /// taking the one writer connection is cheaper than that read.
    async fn claim(&self) -> Result<(Vec<Claimed>, BatchReads), CrmError> {
        let now = self.clock.now();
        if self.store.backend() == Backend::Postgres && !self.any_due(now).await? {
            return Ok((Vec::new(), BatchReads::default()));
        }
        let mut tx = self.store.write_unsynced().await?;
        tx.use_generic_plans().await?;
        let next = self.claim_in(&mut tx, now).await?;
        tx.commit().await?;
        Ok(next)
    }

    /// Claims up to a batch of due runs inside `tx`, with their reads.
    async fn claim_in(&self, tx: &mut Tx, now: Millis) -> Result<(Vec<Claimed>, BatchReads), CrmError> {
        let lease_until = now + self.settings.lease.as_millis() as i64;
        let tail = format!(
            "ORDER BY due_at, seq LIMIT {} {}",
            self.settings.claim_batch.clamp(1, MAX_CLAIM_BATCH),
            self.store.backend().skip_locked()
        );
        let claim = format!(
            "UPDATE runs SET status = 'running', attempt = attempt + 1, lease_until = $2, started_at = $1
             WHERE id IN (SELECT id FROM ({}) AS expired UNION ALL SELECT id FROM ({}) AS due) RETURNING *",
            claimable(LEASE_EXPIRED, &tail),
            claimable(PENDING_DUE, &tail)
        );
        let rows = store::query(&claim)
            .bind(now)
            .bind(lease_until)
            .fetch_all(&mut *tx)
            .await?;
        let mut claimed = rows
            .iter()
            .map(|row| run_from_row(row).map(|record| Claimed { record }))
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|c| (c.record.due_at, c.record.seq));
        let reads = if claimed.is_empty() {
            BatchReads::default()
        } else {
            BatchReads::read(tx, &claimed).await?
        };
        Ok((claimed, reads))
    }

    /// Whether a run is due or its lease expired.
    async fn any_due(&self, now: Millis) -> Result<bool, CrmError> {
        let due: Option<String> = store::query_scalar(&format!(
            "SELECT COALESCE(({}), ({}))",
            claimable(LEASE_EXPIRED, "ORDER BY due_at, seq LIMIT 1"),
            claimable(PENDING_DUE, "ORDER BY due_at, seq LIMIT 1")
        ))
        .bind(now)
        .fetch_one(self.store.pool())
        .await?;
        Ok(due.is_some())
    }

    /// Runs a claimed run in the sandbox and says how it ends; nothing is written yet.
    async fn attempt(&self, claimed: &Claimed, reads: &BatchReads) -> Finish {
        let now = self.clock.now();
        let (plugin, invocation) = match self.prepare(&claimed.record, now, reads).await {
            Ok(Ok(ready)) => ready,
            Ok(Err(finish)) => return finish,
            Err(e) => return self.failure(claimed, None, None, format!("could not be prepared: {e}"), true),
        };
        let version = Some(plugin.manifest.version.clone());
        let mut outcome = match self.runtime.run(&self.store, &plugin, &invocation, now).await {
            Ok(outcome) => outcome,
            Err(e) => return self.failure(claimed, version, None, e.to_string(), true),
        };
        let values = match &outcome.result {
            RunResult::Succeeded(values) => values.clone(),
            RunResult::Failed { error, transient } => {
                let (error, transient) = (error.clone(), *transient);
                return self.failure(claimed, version, Some(outcome), error, transient);
            }
        };
        let (status, due_at) = match &outcome.effects.wait {
            Some(wait) => ("parked", wait.until),
            None => ("succeeded", claimed.record.due_at),
        };
        Finish {
            status,
            due_at,
            plugin_version: version,
            changes: std::mem::take(&mut outcome.effects.staged),
            outcome: Some(outcome),
            return_values: Some(values),
            error: None,
        }
    }

    /// Looks up what the run needs; a run that can no longer run gets its final state instead.
    /// A template that names a linked record reads it through a connection of its own, given
    /// back before the run: a plugin's reads take connections too, and workers holding theirs
    /// through their runs could take them all.
    async fn prepare(
        &self,
        run: &RunRecord,
        now: Millis,
        reads: &BatchReads,
    ) -> Result<Result<(Arc<Plugin>, Invocation), Finish>, CrmError> {
        let ends = |status: &'static str, error: String| Finish {
            status,
            due_at: run.due_at,
            plugin_version: None,
            changes: Vec::new(),
            outcome: None,
            return_values: None,
            error: Some(error),
        };
        let Some(robot) = reads.robots.get(&run.robot_id) else {
            return Ok(Err(ends("cancelled", "the robot was deleted".into())));
        };
        let Some(item) = reads.items.get(&run.item_ref()?) else {
            return Ok(Err(ends("cancelled", "the item was deleted".into())));
        };
        if item.stage_id.as_deref() != Some(run.stage_id.as_str()) {
            return Ok(Err(ends("cancelled", "the item left the stage".into())));
        }
        if let Some(condition) = &robot.condition
            && let Err(why) = condition.holds(item)
        {
            return Ok(Err(ends("skipped", format!("condition not met: {why}"))));
        }
        let requirement = match rules::version_requirement(robot.plugin_version.as_deref()) {
            Ok(requirement) => requirement,
            Err(e) => return Ok(Err(ends("failed", e.to_string()))),
        };
        let Some(plugin) = self.runtime.plugin(&robot.plugin_id, requirement.as_ref()) else {
            return Ok(Err(ends(
                "failed",
                format!(
                    "plugin {} {} is not installed",
                    robot.plugin_id,
                    robot.plugin_version.as_deref().unwrap_or("")
                ),
            )));
        };
        let previous = reads
            .returns
            .get(&(run.entity_type.clone(), run.item_id, run.entry_id))
            .cloned()
            .unwrap_or_default();
        let mut links = template::LinkedRecords::new(self.store.pool());
        let config = match template::resolve_config(&mut links, robot, item, &previous, now).await? {
            Ok(config) => config,
            Err(why) => return Ok(Err(ends("failed", format!("config template: {why}")))),
        };
        let invocation = Invocation {
            run_id: run.id.clone(),
            rule_id: robot.id.clone(),
            item: to_wit_item(item),
            config: config.to_string(),
            previous: Value::Object(previous).to_string(),
            attempt: u32::try_from(run.attempt).unwrap_or(u32::MAX),
            now_ms: u64::try_from(now).unwrap_or_default(),
        };
        Ok(Ok((plugin, invocation)))
    }

    /// A failed attempt: retried later with backoff if worth it and attempts remain.
    fn failure(
        &self,
        claimed: &Claimed,
        version: Option<String>,
        outcome: Option<RunOutcome>,
        error: String,
        transient: bool,
    ) -> Finish {
        let attempt = claimed.record.attempt;
        let retry = transient && attempt < self.settings.max_attempts;
        let due_at = if retry {
            self.clock.now() + backoff(self.settings.retry_base, attempt).as_millis() as i64
        } else {
            claimed.record.due_at
        };
        Finish {
            status: if retry { "pending" } else { "failed" },
            due_at,
            plugin_version: version,
            changes: Vec::new(),
            outcome,
            return_values: None,
            error: Some(error),
        }
    }

    /// Writes the ends of a batch's runs with their changes and claims the next batch, all in
    /// one transaction, and returns before that reaches the disk; if it fails (a change that
    /// cannot be applied, a lease lost), each run ends in its own transaction and the next batch
    /// is claimed apart.
    async fn finish_and_claim(
        &self,
        ended: Vec<(Claimed, Finish)>,
    ) -> Result<(Vec<Claimed>, BatchReads, Syncing), CrmError> {
        match self.finish_together_and_claim(&ended).await {
            Ok(next) => return Ok(next),
            Err(e) => tracing::debug!(error = %e, runs = ended.len(), "finishing runs one by one"),
        }
        for (claimed, finish) in ended {
            self.finish_one(&claimed, finish).await?;
        }
        let (batch, reads) = self.claim().await?;
        Ok((batch, reads, Syncing::done()))
    }

    async fn finish_together_and_claim(
        &self,
        ended: &[(Claimed, Finish)],
    ) -> Result<(Vec<Claimed>, BatchReads, Syncing), BatchFinishError> {
        let now = self.clock.now();
        let mut tx = self.store.write().await.map_err(CrmError::from)?;
        tx.use_generic_plans().await.map_err(CrmError::from)?;
        for (_, finish) in ended {
            apply(&mut tx, &finish.changes, now).await?;
        }
        let ends: Vec<(&Claimed, &Finish)> = ended.iter().map(|(claimed, finish)| (claimed, finish)).collect();
        if !write_ends(&mut tx, &ends, now).await? {
            return Err(BatchFinishError::LeaseLost);
        }
        let (batch, reads) = self.claim_in(&mut tx, now).await?;
        let syncing = tx.commit_visible().await.map_err(CrmError::from)?;
        Ok((batch, reads, syncing))
    }

    /// Writes one run's end with its changes; changes that cannot be applied fail the run
    /// instead (retried later if the database was at fault).
    async fn finish_one(&self, claimed: &Claimed, finish: Finish) -> Result<(), CrmError> {
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        let (mut tx, finish) = match apply(&mut tx, &finish.changes, now).await {
            Ok(()) => (tx, finish),
            Err(e) => {
                drop(tx);
                let transient = matches!(e, CrmError::Store(_));
                let error = format!("its changes could not be applied: {e}");
                let failure = self.failure(claimed, finish.plugin_version, finish.outcome, error, transient);
                (self.store.write().await?, failure)
            }
        };
        if write_ends(&mut tx, &[(claimed, &finish)], now).await? {
            tx.commit().await?;
        }
        Ok(())
    }
}

/// Something happened to the item (`kind`: "activity", "comment", "task", "change"): its parked
/// runs that wait for it succeed, and their chains go on. Returns how many woke.
pub async fn wake_parked(tx: &mut Tx, item: ItemRef, kind: &str, now: Millis) -> Result<usize, CrmError> {
    let rows = store::query("SELECT * FROM runs WHERE entity_type = $1 AND item_id = $2 AND status = 'parked'")
        .bind(item.entity_type)
        .bind(item.id)
        .fetch_all(&mut *tx)
        .await?;
    let mut woke = 0;
    for row in rows {
        let run = run_from_row(&row)?;
        if run
            .wake_on
            .as_ref()
            .is_some_and(|kinds| kinds.iter().any(|k| k == kind))
        {
            end_parked(tx, &run, kind, now).await?;
            woke += 1;
        }
    }
    Ok(woke)
}

/// Ends a parked run as succeeded, `woke_by` added to its return values, and lets the robot
/// after it in the stage start.
async fn end_parked(tx: &mut Tx, run: &RunRecord, woke_by: &str, now: Millis) -> Result<(), CrmError> {
    let mut values = match &run.return_values {
        Some(Value::Object(values)) => values.clone(),
        _ => Map::new(),
    };
    values.insert("woke_by".into(), Value::from(woke_by));
    let ended = store::query(
        "UPDATE runs SET status = 'succeeded', finished_at = $1, return_values = $2 WHERE id = $3 AND status = 'parked'",
    )
    .bind(now)
    .bind(Value::Object(values).to_string())
    .bind(&run.id)
    .execute(&mut *tx)
    .await?;
    if ended.rows_affected() == 1 {
        rules::continue_chains(tx, &[run], now).await?;
    }
    Ok(())
}

/// Runs whose worker's lease expired: a worker died (or hung) with them.
const LEASE_EXPIRED: &str = "status = 'running' AND lease_until < $1";

/// Pending runs whose time has come.
const PENDING_DUE: &str = "status = 'pending' AND due_at <= $1";

/// Parked runs whose time has come.
const PARKED_DUE: &str = "status = 'parked' AND due_at <= $1";

/// No run of the same item scheduled before this one is still due or running (even if its
/// lease expired: that run is claimed first, and this one waits for it). An item's robots thus
/// run one at a time in the order they were scheduled, so one that moves the item cannot
/// overtake (and cancel) an earlier one, on any number of workers and hosts, and a batch never
/// holds two runs of one item.
const NO_EARLIER_DUE: &str = "NOT EXISTS (SELECT 1 FROM runs earlier
    WHERE earlier.entity_type = runs.entity_type AND earlier.item_id = runs.item_id AND earlier.seq < runs.seq
      AND ((earlier.status = 'pending' AND earlier.due_at <= $1) OR earlier.status = 'running'))";

/// The ids of runs in state `which` (one of [`LEASE_EXPIRED`], [`PENDING_DUE`]) a worker may
/// claim at time `$1`, walked in `(status, due_at, seq)` index order with `tail` (order, limit,
/// lock) applied. The two states are asked apart instead of in one OR: with an OR the database
/// sorts every due run on each claim, which made a backlog of 100,000 due runs drain at a few
/// runs a second.
fn claimable(which: &str, tail: &str) -> String {
    format!("SELECT id FROM runs WHERE {which} AND {NO_EARLIER_DUE} {tail}")
}

/// Exponential backoff with up to 20% jitter, capped at an hour.
fn backoff(base: Duration, attempt: i64) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(16);
    let delay = base.saturating_mul(1 << exponent).min(Duration::from_secs(3600));
    delay.mul_f64(1.0 + rand::random::<f64>() * 0.2)
}

/// Applies a run's staged writes.
async fn apply(tx: &mut Tx, staged: &[StagedChange], now: Millis) -> Result<(), CrmError> {
    for change in staged {
        change.apply(tx, now).await?;
    }
    Ok(())
}

/// What the robots of each batch run's stay in the stage returned so far, by robot id (a robot
/// that ran twice counts with its last values).
async fn stay_returns(
    conn: &mut Conn,
    batch: &[Claimed],
) -> Result<HashMap<(String, i64, i64), Map<String, Value>>, CrmError> {
    // The status is checked here, not in SQL: given `status = 'succeeded'`, SQLite would walk
    // every succeeded run in the status index instead of the few runs of these stays.
    let sql = format!(
        "SELECT entity_type, item_id, entry_id, robot_id, return_values, status FROM runs
         WHERE entry_id IN ({}) ORDER BY seq",
        placeholders(1, batch.len())
    );
    let mut query = store::query(&sql);
    for claimed in batch {
        query = query.bind(claimed.record.entry_id);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let mut returns: HashMap<_, Map<String, Value>> = HashMap::new();
    for row in rows {
        if row.try_get::<String, _>("status")? != "succeeded" {
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

/// The columns [`write_ends`] binds per run.
const END_COLUMNS: usize = 12;

/// Writes claimed runs' ends in one statement, each fenced by its attempt, and lets the robots
/// waiting for the ended ones start. Returns false if a lease was lost to another worker
/// meanwhile: the caller must then not commit.
async fn write_ends(tx: &mut Tx, ended: &[(&Claimed, &Finish)], now: Millis) -> Result<bool, CrmError> {
    let rows = (0..ended.len())
        .map(|run| format!("({})", placeholders(run * END_COLUMNS + 1, END_COLUMNS)))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "UPDATE runs SET status = f.column2, due_at = f.column3, plugin_version = f.column4, lease_until = NULL,
                finished_at = f.column5, duration_us = f.column6, fuel_used = f.column7, logs = f.column8,
                return_values = f.column9, error = f.column10, wake_on = f.column11
         FROM (VALUES {rows}) AS f
         WHERE runs.id = f.column1 AND runs.attempt = f.column12 AND runs.status = 'running'"
    );
    let mut query = store::query(&sql);
    for (claimed, finish) in ended {
        let (duration_us, fuel_used, logs, wait) = match &finish.outcome {
            Some(o) => (
                Some(i64::try_from(o.duration.as_micros()).unwrap_or(i64::MAX)),
                Some(i64::try_from(o.fuel_used).unwrap_or(i64::MAX)),
                o.effects.logs.as_slice(),
                o.effects.wait.as_ref().filter(|_| finish.status == "parked"),
            ),
            None => (None, None, [].as_slice(), None),
        };
        query = query
            .bind(claimed.record.id.as_str())
            .bind(finish.status)
            .bind(finish.due_at)
            .bind(finish.plugin_version.as_deref())
            .bind(finish.ended().then_some(now))
            .bind(duration_us)
            .bind(fuel_used)
            .bind(serde_json::to_string(logs).expect("log lines serialize"))
            .bind(finish.return_values.as_ref().map(Value::to_string))
            .bind(finish.error.as_deref())
            .bind(wait.map(|w| serde_json::to_string(&w.wake_on).expect("strings serialize")))
            .bind(claimed.record.attempt);
    }
    let updated = query.execute(&mut *tx).await?.rows_affected();
    if updated < ended.len() as u64 {
        tracing::warn!(
            lost = ended.len() as u64 - updated,
            "a lease was lost before its run finished; the result is discarded"
        );
        return Ok(false);
    }
    let finished: Vec<&RunRecord> = ended
        .iter()
        .filter(|(_, finish)| finish.ended())
        .map(|(claimed, _)| &claimed.record)
        .collect();
    rules::continue_chains(tx, &finished, now).await?;
    Ok(true)
}
