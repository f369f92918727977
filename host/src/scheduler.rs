//! The durable scheduler: the workers' loop over the run [`queue`]. A run is claimed with a lease
//! by a worker when due, run in the sandbox, and finished in one transaction with the plugin's
//! staged writes ([`changeset`]); the scheduler also ends timed-out waits and sweeps quiet items
//! and old run records. A host that dies mid-run leaves a lease that expires, and another worker takes
//! the run over; the attempt number fences out the stale holder's commit. A run whose plugin
//! asked to wait ends `parked`, holding its stage's chain until something happens to the item or
//! its time passes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::changeset::{self, StagedChange};
use crate::clock::{Clock, Millis};
use crate::crm;
use crate::metrics::Metrics;
use crate::model::{CrmError, Item, ItemRef};
use crate::queue::{self, RunEnd, RunRecord, RunStatus};
use crate::returns;
use crate::rules::{self, Engine, Robot, template, triggers};
use crate::runtime::bindings::stagewright::action::types::Invocation;
use crate::runtime::{self, Plugin, RunDb, RunOutcome, RunResult, Runtime, SliceTx, begin_savepoint, end_savepoint};
use crate::segments;
use crate::store::{Backend, Conn, Store, StoreError, Syncing, Tx};

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
    /// Most workers the runs of one plugin may hold at once; `None` is half the workers (at
    /// least one). A plugin that sleeps to its wall-time bound then stalls at most that many,
    /// and the other robots keep running.
    pub plugin_share: Option<usize>,
    /// Most runs one chain slice ends: a batch small enough runs inside the transaction that
    /// claimed it, which goes on to end it and claim the next, so consecutive robots commit
    /// once (docs/decisions.md, "A chain's robots share one transaction"); 0 commits every
    /// batch before it runs.
    pub slice_runs: usize,
    /// How long a slice may hold the write transaction: no batch joins a slice older than
    /// this, and a run inside a slice is cut off after this long, to run again on its own.
    pub slice_time: Duration,
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
            plugin_share: None,
            slice_runs: 32,
            slice_time: Duration::from_millis(5),
        }
    }
}

impl SchedulerSettings {
    /// How many workers one plugin's runs may hold at once.
    pub fn workers_per_plugin(&self) -> usize {
        self.plugin_share
            .unwrap_or(self.workers / 2)
            .clamp(1, self.workers.max(1))
    }
}

/// The savepoint of one run inside a slice: what its host calls wrote stays only if it succeeded.
const RUN_SAVEPOINT: &str = "slice_run";

/// The savepoint of a batch's ends: what is undone if they cannot be written together.
const BATCH_SAVEPOINT: &str = "batch_end";

/// A write transaction a worker holds open: the one that claimed the batch in hand, and, while
/// batches run inside it, a chain slice holding their ends until it commits.
struct OpenTx {
    tx: Tx,
    /// The runs whose ends it holds, counted in the metrics once it commits.
    ended: Vec<(Claimed, Finish)>,
    /// When it began: from then on it holds the write lock (on SQLite, the only one).
    since: Instant,
    /// Whether a run it ended parked: a robot that waits ends its slice.
    parked: bool,
}

impl OpenTx {
    fn new(tx: Tx) -> Self {
        Self {
            tx,
            ended: Vec::new(),
            since: Instant::now(),
            parked: false,
        }
    }
}

/// How long a run put back for its plugin's share waits before it is claimed again, when the
/// plugin's runs are slow.
const DEFER_MS: Millis = 1_000;

/// A share of the workers held this long says the plugin's runs are slow, not merely many.
const SLOW_SHARE: Duration = Duration::from_millis(50);

/// A run this worker holds the lease of.
struct Claimed {
    record: RunRecord,
}

/// How a claimed run ends, as written to its row.
struct Finish {
    status: RunStatus,
    due_at: Millis,
    plugin_version: Option<String>,
    /// The writes the run staged, applied with its end; empty unless it succeeded.
    changes: Vec<StagedChange>,
    outcome: Option<RunOutcome>,
    return_values: Option<Value>,
    error: Option<String>,
    /// Put back unrun for its plugin's share of the workers; its attempt is not counted.
    deferred: bool,
}

impl Finish {
    /// Whether the run was cut off by the wall-time bound.
    fn hit_wall_time(&self, bound: Duration) -> bool {
        self.outcome.as_ref().is_some_and(|o| o.duration >= bound)
    }

    /// The row's end, for [`queue::write_ends`].
    fn end<'a>(&'a self, claimed: &'a Claimed) -> RunEnd<'a> {
        let outcome = self.outcome.as_ref();
        RunEnd {
            run: &claimed.record,
            status: self.status,
            due_at: self.due_at,
            plugin_version: self.plugin_version.as_deref(),
            duration_us: outcome.map(|o| i64::try_from(o.duration.as_micros()).unwrap_or(i64::MAX)),
            fuel_used: outcome.map(|o| i64::try_from(o.fuel_used).unwrap_or(i64::MAX)),
            logs: outcome.map_or(&[], |o| o.effects.logs.as_slice()),
            return_values: self.return_values.as_ref(),
            error: self.error.as_deref(),
            wake_on: outcome
                .and_then(|o| o.effects.wait.as_ref())
                .filter(|_| self.status == RunStatus::Parked)
                .map(|w| w.wake_on.as_slice()),
            deferred: self.deferred,
        }
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
        let runs: Vec<&RunRecord> = batch.iter().map(|c| &c.record).collect();
        Ok(Self {
            robots: robots.into_iter().map(|robot| (robot.id.clone(), robot)).collect(),
            items: items.into_iter().map(|item| (item.item_ref, item)).collect(),
            returns: queue::stay_returns(conn, &runs).await?,
        })
    }
}

/// Claims due runs and runs them.
pub struct Scheduler {
    store: Store,
    runtime: Arc<Runtime>,
    clock: Clock,
    settings: SchedulerSettings,
    /// Counts the runs it ends.
    metrics: Arc<Metrics>,
    /// Runs of each plugin in the workers' hands now, against `workers_per_plugin`.
    in_hand: PluginShares,
    wake: Notify,
    /// When quiet items were last swept for `no_activity` triggers.
    last_sweep: AtomicI64,
    /// Set when the host is stopping: workers claim nothing more, finish what they hold and end.
    stopping: AtomicBool,
    /// Plugins one of whose runs outlasted a slice's time: they run outside slices from then on.
    slow_for_slices: std::sync::Mutex<HashSet<String>>,
}

/// How often (in clock time) quiet items and old run records are swept.
const QUIET_SWEEP_EVERY_MS: Millis = 60_000;

impl Scheduler {
    /// A scheduler over the given store and runtime.
    pub fn new(
        store: Store,
        runtime: Arc<Runtime>,
        clock: Clock,
        settings: SchedulerSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            runtime,
            clock,
            in_hand: PluginShares::new(settings.workers_per_plugin()),
            settings,
            metrics,
            wake: Notify::new(),
            last_sweep: AtomicI64::new(i64::MIN / 2),
            stopping: AtomicBool::new(false),
            slow_for_slices: std::sync::Mutex::default(),
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

    /// Stops claiming: every worker finishes the runs it holds (their ends are written), claims
    /// no more and ends, so a host can stop without leaving runs to wait out their lease.
    pub fn stop_claiming(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    /// Whether the host is stopping.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Starts the workers; each ends after [`Self::stop_claiming`], or when its handle is aborted.
    pub fn spawn_workers(self: &Arc<Self>) -> Vec<JoinHandle<()>> {
        (0..self.settings.workers)
            .map(|_| {
                let scheduler = self.clone();
                tokio::spawn(async move { scheduler.work().await })
            })
            .collect()
    }

    async fn work(&self) {
        while !self.is_stopping() {
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
        let forgotten = queue::forget_finished(&mut tx, now.saturating_sub(retention)).await?;
        tx.commit().await?;
        if moved > 0 || forgotten > 0 {
            tracing::info!(moved, forgotten, "swept quiet items and old run records");
        }
        Ok(())
    }

    /// Ends the waits that timed out, then claims due runs a batch at a time and runs them
    /// until none is left; returns how many ran. The transaction that writes a batch's ends
    /// claims the next batch, so a batch costs one commit, and the next robot of a chain, made
    /// due by that very transaction, starts without waiting for a wake-up.
    ///
    /// A small batch runs inside that transaction, which then ends it and claims the next: a
    /// chain slice, committed once for all its batches. The slice commits before a batch that is
    /// large, holds a robot that reaches outside the host, or would take it past its bounds on
    /// runs and time, and after a robot that waits.
    ///
    /// Nor does a commit's batch wait for it to reach the disk, unless the batch is full: the sync
    /// runs while the batch does, and the worker waits for the last one before it rests. A full
    /// batch means a backlog, where waiting leaves the CPU to the other workers, whose commits
    /// share the sync (docs/decisions.md, "A chain does not wait for the disk between its robots").
    pub async fn run_due(&self) -> Result<usize, CrmError> {
        self.end_timed_out_waits().await?;
        self.bring_clients_back().await?;
        self.run_segments().await?;
        let mut ran = 0;
        let mut syncing = None;
        let Some((mut batch, mut reads, mut open)) = self.claim().await? else {
            return Ok(0);
        };
        while !batch.is_empty() {
            if batch.len() >= self.settings.claim_batch {
                self.wake();
            }
            ran += batch.len();
            let ended;
            (ended, open) = if self.slice_takes(&open, &batch, &reads) {
                self.attempt_in_slice(batch, &reads, open).await?
            } else {
                let sync = self.commit(open).await?;
                if batch.len() >= self.settings.claim_batch {
                    sync.on_disk().await?;
                } else {
                    syncing = Some(tokio::spawn(sync.on_disk()));
                }
                let ended = self.attempt_all(batch, &reads, None).await?;
                (ended, self.begin().await?)
            };
            (batch, reads, open) = self.finish_and_claim(open, ended).await?;
        }
        self.commit(open).await?.on_disk().await?;
        if let Some(syncing) = syncing {
            syncing.await.map_err(|_| StoreError::Closed)??;
        }
        Ok(ran)
    }

    /// Whether `batch` may run inside `open`, as the next part of its slice: not if a run's
    /// plugin (as the run recorded it, or as its robot names it now) may reach outside.
    fn slice_takes(&self, open: &OpenTx, batch: &[Claimed], reads: &BatchReads) -> bool {
        let slow = self
            .slow_for_slices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        !open.parked
            && open.ended.len() + batch.len() <= self.settings.slice_runs
            && open.since.elapsed() < self.settings.slice_time
            && batch.iter().all(|claimed| {
                let robot = reads.robots.get(&claimed.record.robot_id);
                std::iter::once(claimed.record.plugin_id.as_str())
                    .chain(robot.map(|robot| robot.plugin_id.as_str()))
                    .all(|plugin| !slow.contains(plugin) && !self.runtime.reaches_outside(plugin))
            })
    }

    /// Runs a claimed batch inside the transaction that claimed it: each run's host calls read
    /// and check there, behind a savepoint that a run that did not succeed is rolled back to.
    async fn attempt_in_slice(
        &self,
        batch: Vec<Claimed>,
        reads: &BatchReads,
        open: OpenTx,
    ) -> Result<(Vec<(Claimed, Finish)>, OpenTx), CrmError> {
        let OpenTx {
            tx,
            ended: held,
            since,
            parked,
        } = open;
        let slice = SliceTx::new(tx);
        let ended = self.attempt_all(batch, reads, Some(&slice)).await;
        let tx = slice
            .into_tx()
            .expect("every run of the batch has given the slice's transaction back");
        let open = OpenTx {
            tx,
            ended: held,
            since,
            parked,
        };
        Ok((ended?, open))
    }

    /// Runs a claimed batch; nothing is written yet, but in a slice's savepoints. A run whose
    /// plugin already holds its share of the workers is put back for a moment rather than run,
    /// and so are the batch's other runs of a plugin that ran into its wall-time bound: one slow
    /// plugin holds a worker for at most one bound per batch, and never more than its share of
    /// the workers.
    async fn attempt_all(
        &self,
        batch: Vec<Claimed>,
        reads: &BatchReads,
        slice: Option<&SliceTx>,
    ) -> Result<Vec<(Claimed, Finish)>, CrmError> {
        let mut ended = Vec::with_capacity(batch.len());
        let mut too_slow: Vec<String> = Vec::new();
        for claimed in batch {
            let plugin = claimed.record.plugin_id.clone();
            let share = match too_slow.contains(&plugin) {
                true => Err(Busy::Slow),
                false => self.in_hand.take(&plugin),
            };
            let finish = match (share, slice) {
                (Ok(_share), None) => {
                    let db = RunDb::own(self.store.clone());
                    self.attempt(&claimed, reads, &db, self.runtime.limits().wall_time)
                        .await
                }
                (Ok(_share), Some(slice)) => self.attempt_in(slice, &claimed, reads).await?,
                (Err(busy), _) => self.deferred(&claimed, busy),
            };
            if finish.hit_wall_time(self.runtime.limits().wall_time) {
                too_slow.push(plugin);
            }
            ended.push((claimed, finish));
        }
        Ok(ended)
    }

    /// Runs one claimed run inside a slice, behind a savepoint kept only if it succeeded. A run
    /// cut off by the slice's time goes back, its attempt not counted, to run on its own.
    async fn attempt_in(&self, slice: &SliceTx, claimed: &Claimed, reads: &BatchReads) -> Result<Finish, CrmError> {
        begin_savepoint(&mut *slice.lock().await, RUN_SAVEPOINT).await?;
        let db = RunDb::in_slice(self.store.clone(), slice.clone());
        let mut finish = self.attempt(claimed, reads, &db, self.settings.slice_time).await;
        drop(db);
        if self.outlasted_slice(&finish) {
            finish = self.out_of_slice(claimed);
        }
        let keep = matches!(finish.status, RunStatus::Succeeded | RunStatus::Parked);
        end_savepoint(&mut *slice.lock().await, RUN_SAVEPOINT, keep).await?;
        Ok(finish)
    }

    /// Whether a run in a slice was cut off by the slice's time rather than the run bound.
    fn outlasted_slice(&self, finish: &Finish) -> bool {
        self.settings.slice_time < self.runtime.limits().wall_time
            && finish.outcome.as_ref().is_some_and(|outcome| {
                matches!(outcome.result, RunResult::Failed { .. }) && outcome.duration >= self.settings.slice_time
            })
    }

    /// A run that outlasted its slice: due again at once, its attempt not counted, and its
    /// plugin kept out of slices from now on, so the retry runs on its own under the run bound.
    fn out_of_slice(&self, claimed: &Claimed) -> Finish {
        let plugin = &claimed.record.plugin_id;
        tracing::info!(
            plugin,
            "a run outlasted a chain slice; the plugin runs outside slices from now on"
        );
        self.slow_for_slices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(plugin.clone());
        Finish {
            status: RunStatus::Pending,
            due_at: claimed.record.due_at,
            plugin_version: None,
            changes: Vec::new(),
            outcome: None,
            return_values: None,
            error: Some(format!(
                "ran longer than a chain slice allows ({:?}); runs again on its own",
                self.settings.slice_time
            )),
            deferred: true,
        }
    }

    /// A run put back, unrun, for its plugin's share, its attempt not counted: due again in a
    /// second if the plugin's runs are slow, at once if they are merely many (the share is
    /// free again by the next claim).
    fn deferred(&self, claimed: &Claimed, busy: Busy) -> Finish {
        let wait = match busy {
            Busy::Slow => DEFER_MS,
            Busy::Since(held) if held.elapsed() >= SLOW_SHARE => DEFER_MS,
            Busy::Since(_) => 0,
        };
        Finish {
            status: RunStatus::Pending,
            due_at: self.clock.now() + wait,
            plugin_version: None,
            changes: Vec::new(),
            outcome: None,
            return_values: None,
            error: Some(format!(
                "waiting for a worker: plugin {} holds its share of {} workers",
                claimed.record.plugin_id,
                self.settings.workers_per_plugin()
            )),
            deferred: true,
        }
    }

    /// Carries out the client returns that are due (repeat deals, reactivations), a batch per
    /// transaction, after a read asks whether there is one.
    async fn bring_clients_back(&self) -> Result<(), CrmError> {
        let now = self.clock.now();
        let mut conn = self.store.pool().acquire().await?;
        if !returns::any_due(&mut conn, now).await? {
            return Ok(());
        }
        drop(conn);
        let mut tx = self.store.write().await?;
        returns::run_due(&mut tx, &Engine, now, 100).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Runs the repeat-sales segments once a day, at the first tick of the day by the business
    /// calendar's time zone, after a read asks whether today has run.
    async fn run_segments(&self) -> Result<(), CrmError> {
        let now = self.clock.now();
        let mut conn = self.store.pool().acquire().await?;
        let Some(day) = segments::day_to_run(&mut conn, now).await? else {
            return Ok(());
        };
        drop(conn);
        if segments::run_day(&self.store, &Engine, day, now).await? > 0 {
            self.wake();
        }
        Ok(())
    }

    /// Parked runs whose time passed succeed with `woke_by: "timeout"`. A read first asks
    /// whether there is one, as in [`Self::claim`].
    async fn end_timed_out_waits(&self) -> Result<(), CrmError> {
        let now = self.clock.now();
        if !queue::any_parked_due(self.store.pool(), now).await? {
            return Ok(());
        }
        let mut tx = self.store.write().await?;
        for run in queue::parked_due_runs(&mut tx, now, 500).await? {
            rules::end_wait(&mut tx, &run, &queue::WaitEnd::by("timeout"), now).await?;
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
    ///
    /// The claim's transaction is left open, for the batch to run in as a slice; its commit does
    /// not wait for the disk unless it comes to hold runs' ends. `None` when nothing was due.
    async fn claim(&self) -> Result<Option<(Vec<Claimed>, BatchReads, OpenTx)>, CrmError> {
        let now = self.clock.now();
        if self.store.backend() == Backend::Postgres && !queue::any_due(self.store.pool(), now).await? {
            return Ok(None);
        }
        let mut open = OpenTx::new(self.store.write_unsynced().await?);
        open.tx.use_generic_plans().await?;
        let (batch, reads) = self.claim_in(&mut open.tx, now).await?;
        if batch.is_empty() {
            open.tx.rollback().await?;
            return Ok(None);
        }
        Ok(Some((batch, reads, open)))
    }

    /// A write transaction to end a batch that ran on its own in.
    async fn begin(&self) -> Result<OpenTx, CrmError> {
        let mut open = OpenTx::new(self.store.write().await?);
        open.tx.use_generic_plans().await?;
        Ok(open)
    }

    /// Commits `open` and counts the runs it ended; returns before the commit is on disk.
    async fn commit(&self, open: OpenTx) -> Result<Syncing, CrmError> {
        let syncing = open.tx.commit_visible().await?;
        if !open.ended.is_empty() {
            let ends: Vec<RunEnd> = open.ended.iter().map(|(claimed, finish)| finish.end(claimed)).collect();
            self.metrics.runs_ended(&ends);
            self.metrics.commit_ended(ends.len());
        }
        Ok(syncing)
    }

    /// Claims up to a batch of due runs inside `tx`, with their reads.
    async fn claim_in(&self, tx: &mut Tx, now: Millis) -> Result<(Vec<Claimed>, BatchReads), CrmError> {
        if self.is_stopping() {
            return Ok((Vec::new(), BatchReads::default()));
        }
        let lease_until = now + self.settings.lease.as_millis() as i64;
        let claimed: Vec<Claimed> = queue::claim(tx, now, lease_until, self.settings.claim_batch, self.store.backend())
            .await?
            .into_iter()
            .map(|record| Claimed { record })
            .collect();
        let reads = if claimed.is_empty() {
            BatchReads::default()
        } else {
            BatchReads::read(tx, &claimed).await?
        };
        Ok((claimed, reads))
    }

    /// Runs a claimed run in the sandbox, its host calls reaching the database through `db` and
    /// cut off after `wall_time`, and says how it ends; nothing is written yet.
    async fn attempt(&self, claimed: &Claimed, reads: &BatchReads, db: &RunDb, wall_time: Duration) -> Finish {
        let now = self.clock.now();
        let (plugin, invocation) = match self.prepare(&claimed.record, now, reads, db).await {
            Ok(Ok(ready)) => ready,
            Ok(Err(finish)) => return finish,
            Err(e) => return self.failure(claimed, None, None, format!("could not be prepared: {e}"), true),
        };
        let version = Some(plugin.manifest.version.clone());
        let mut outcome = match self
            .runtime
            .run_on(db.clone(), &plugin, &invocation, now, wall_time)
            .await
        {
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
            Some(wait) => (RunStatus::Parked, wait.until),
            None => (RunStatus::Succeeded, claimed.record.due_at),
        };
        Finish {
            status,
            due_at,
            plugin_version: version,
            changes: std::mem::take(&mut outcome.effects.staged),
            outcome: Some(outcome),
            return_values: Some(values),
            error: None,
            deferred: false,
        }
    }

    /// Looks up what the run needs; a run that can no longer run gets its final state instead.
    /// A template that names a linked record reads it where the run's host calls read, through
    /// a connection given back before the run: a plugin's reads take connections too, and
    /// workers holding theirs through their runs could take them all.
    async fn prepare(
        &self,
        run: &RunRecord,
        now: Millis,
        reads: &BatchReads,
        db: &RunDb,
    ) -> Result<Result<(Arc<Plugin>, Invocation), Finish>, CrmError> {
        let ends = |status: RunStatus, error: String| Finish {
            status,
            due_at: run.due_at,
            plugin_version: None,
            changes: Vec::new(),
            outcome: None,
            return_values: None,
            error: Some(error),
            deferred: false,
        };
        let Some(robot) = reads.robots.get(&run.robot_id) else {
            return Ok(Err(ends(RunStatus::Cancelled, "the robot was deleted".into())));
        };
        let Some(item) = reads.items.get(&run.item_ref()?) else {
            return Ok(Err(ends(RunStatus::Cancelled, "the item was deleted".into())));
        };
        if item.stage_id.as_deref() != Some(run.stage_id.as_str()) {
            return Ok(Err(ends(RunStatus::Cancelled, "the item left the stage".into())));
        }
        if let Some(condition) = &robot.condition
            && let Err(why) = condition.holds(item)
        {
            return Ok(Err(ends(RunStatus::Skipped, format!("condition not met: {why}"))));
        }
        let requirement = match rules::version_requirement(robot.plugin_version.as_deref()) {
            Ok(requirement) => requirement,
            Err(e) => return Ok(Err(ends(RunStatus::Failed, e.to_string()))),
        };
        let Some(plugin) = self.runtime.plugin(&robot.plugin_id, requirement.as_ref()) else {
            return Ok(Err(ends(
                RunStatus::Failed,
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
        let mut links = template::LinkedRecords::of_run(db);
        let config = match template::resolve_config(&mut links, robot, item, &previous, now).await? {
            Ok(config) => config,
            Err(why) => return Ok(Err(ends(RunStatus::Failed, format!("config template: {why}")))),
        };
        drop(links);
        let invocation = runtime::invocation(&run.id, &robot.id, item, &config, previous, run.attempt, now);
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
            status: if retry { RunStatus::Pending } else { RunStatus::Failed },
            due_at,
            plugin_version: version,
            changes: Vec::new(),
            outcome,
            return_values: None,
            error: Some(error),
            deferred: false,
        }
    }

    /// Writes the ends of a batch's runs with their changes into `open` and claims the next
    /// batch there; `open` stays uncommitted. If the ends cannot be written together (a change
    /// that cannot be applied, a lease lost), they are undone back to the batch's savepoint,
    /// `open` commits what it held before, each run ends in a transaction of its own, and the
    /// next batch is claimed in a new one.
    async fn finish_and_claim(
        &self,
        mut open: OpenTx,
        ended: Vec<(Claimed, Finish)>,
    ) -> Result<(Vec<Claimed>, BatchReads, OpenTx), CrmError> {
        let now = self.clock.now();
        open.tx.make_durable().await?;
        begin_savepoint(&mut open.tx, BATCH_SAVEPOINT).await?;
        match self.write_batch(&mut open.tx, &ended, now).await {
            Ok(()) => {
                end_savepoint(&mut open.tx, BATCH_SAVEPOINT, true).await?;
                open.parked |= ended.iter().any(|(_, finish)| finish.status == RunStatus::Parked);
                open.ended.extend(ended);
            }
            Err(e) => {
                tracing::debug!(error = %e, runs = ended.len(), "finishing runs one by one");
                end_savepoint(&mut open.tx, BATCH_SAVEPOINT, false).await?;
                self.commit(open).await?.on_disk().await?;
                for (claimed, finish) in ended {
                    self.finish_one(&claimed, finish).await?;
                }
                open = OpenTx::new(self.store.write_unsynced().await?);
                open.tx.use_generic_plans().await?;
            }
        }
        let (batch, reads) = self.claim_in(&mut open.tx, now).await?;
        Ok((batch, reads, open))
    }

    /// Applies a batch's changes and writes its runs' ends in `tx`.
    async fn write_batch(&self, tx: &mut Tx, ended: &[(Claimed, Finish)], now: Millis) -> Result<(), BatchFinishError> {
        for (_, finish) in ended {
            changeset::apply(tx, &Engine, &finish.changes, now).await?;
        }
        let ends: Vec<RunEnd> = ended.iter().map(|(claimed, finish)| finish.end(claimed)).collect();
        if !write_ends(tx, &ends, now).await? {
            return Err(BatchFinishError::LeaseLost);
        }
        Ok(())
    }

    /// Writes one run's end with its changes; changes that cannot be applied fail the run
    /// instead (retried later if the database was at fault).
    async fn finish_one(&self, claimed: &Claimed, finish: Finish) -> Result<(), CrmError> {
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        let (mut tx, finish) = match changeset::apply(&mut tx, &Engine, &finish.changes, now).await {
            Ok(()) => (tx, finish),
            Err(e) => {
                drop(tx);
                let transient = matches!(e, CrmError::Store(_));
                let error = format!("its changes could not be applied: {e}");
                let failure = self.failure(claimed, finish.plugin_version, finish.outcome, error, transient);
                (self.store.write().await?, failure)
            }
        };
        let end = [finish.end(claimed)];
        if write_ends(&mut tx, &end, now).await? {
            tx.commit().await?;
            self.metrics.runs_ended(&end);
            self.metrics.commit_ended(1);
        }
        Ok(())
    }
}

/// How many runs of each plugin the workers hold, each taken as a [`Share`] that is given back
/// when dropped, with when each was taken.
struct PluginShares {
    limit: usize,
    held: std::sync::Mutex<HashMap<String, Vec<Instant>>>,
}

/// One worker's hold on a plugin's share, for one run.
struct Share<'a> {
    shares: &'a PluginShares,
    plugin: String,
    since: Instant,
}

/// Why a run's plugin has no share free for it.
enum Busy {
    /// A run of the plugin ran into the wall-time bound in this batch.
    Slow,
    /// Its runs hold every share; the oldest was taken at this moment.
    Since(Instant),
}

impl PluginShares {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            held: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// A hold on `plugin`'s share, unless its runs already hold `limit` workers.
    fn take(&self, plugin: &str) -> Result<Share<'_>, Busy> {
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let holds = held.entry(plugin.to_string()).or_default();
        if holds.len() >= self.limit {
            return Err(Busy::Since(holds.iter().min().copied().unwrap_or_else(Instant::now)));
        }
        let since = Instant::now();
        holds.push(since);
        Ok(Share {
            shares: self,
            plugin: plugin.to_string(),
            since,
        })
    }
}

impl Drop for Share<'_> {
    fn drop(&mut self) {
        let mut held = self
            .shares
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(holds) = held.get_mut(&self.plugin)
            && let Some(at) = holds.iter().position(|since| *since == self.since)
        {
            holds.swap_remove(at);
        }
    }
}

/// Exponential backoff with up to 20% jitter, capped at an hour.
fn backoff(base: Duration, attempt: i64) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(16);
    let delay = base.saturating_mul(1 << exponent).min(Duration::from_secs(3600));
    delay.mul_f64(1.0 + rand::random::<f64>() * 0.2)
}

/// Writes runs' ends and lets the robots waiting for the ones that are over start. Returns false
/// if a lease was lost to another worker meanwhile: the caller must then not commit.
async fn write_ends(tx: &mut Tx, ends: &[RunEnd<'_>], now: Millis) -> Result<bool, CrmError> {
    if !queue::write_ends(tx, ends, now).await? {
        return Ok(false);
    }
    let over: Vec<&RunRecord> = ends
        .iter()
        .filter(|end| end.status.is_over())
        .map(|end| end.run)
        .collect();
    rules::continue_chains(tx, &over, now).await?;
    let parked: Vec<&RunRecord> = ends
        .iter()
        .filter(|end| end.status == RunStatus::Parked)
        .map(|end| end.run)
        .collect();
    crate::apps::end_answered(tx, &parked, now).await?;
    Ok(true)
}
