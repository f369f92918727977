//! The store data of one sandboxed run: what the run may do ([`Grants`], [`Limits`]), what it
//! has done so far (staged writes, the overlay its reads see, its log), and the WASI contexts
//! behind its `wasi:*` imports. The host calls themselves live in [`super::host`], one module
//! per interface.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::Limits;
use super::bindings::stagewright::action::types as wit;
use super::grants::{Denial, Grants};
use super::outbound::{Outbound, RunHttp};
use super::run_db::RunDb;
use super::run_log::{LogLine, RunLog, SharedLog};
use crate::changeset::StagedChange;
use crate::clock::Millis;
use crate::model::{Item, ItemRef};

/// The store data of one sandboxed run.
pub struct RunState {
    wasi: WasiCtx,
    http_ctx: WasiHttpCtx,
    http: RunHttp,
    table: ResourceTable,
    /// The memory cap, which also tells whether the run hit it.
    pub(super) memory: MemoryLimit,
    /// Where reads are answered from and checks are made: the pool, or the run's chain slice.
    pub(super) db: RunDb,
    /// What the plugin may touch.
    pub(super) grants: Arc<Grants>,
    /// The run's bounds.
    pub(super) limits: Limits,
    /// The scheduler's clock when the run started.
    pub(super) now: Millis,
    /// The run's id; `None` while `describe` runs.
    pub(super) run_id: Option<String>,
    /// The robot being run; `None` while `describe` runs.
    pub(super) robot_id: Option<String>,
    /// Emails and notifications sent so far.
    pub(super) messages: usize,
    /// Writes to apply if the run succeeds, in the order made.
    pub(super) staged: Vec<StagedChange>,
    /// Items as this run's staged writes left them (`None`: deleted), seen by its reads.
    pub(super) overlay: HashMap<ItemRef, Option<Item>>,
    /// The run's log, shared with its outbound requests.
    pub(super) log: SharedLog,
    /// The wait the run asked for.
    pub(super) wait: Option<Wait>,
}

/// What a run left behind besides its result.
pub struct RunEffects {
    /// Writes to apply on success.
    pub staged: Vec<StagedChange>,
    /// Its log, capped.
    pub logs: Vec<LogLine>,
    /// The wait it asked for, if any: on success the run parks its stage's chain.
    pub wait: Option<Wait>,
}

/// A run's request to park its stage's chain until something happens to the item or a moment
/// passes.
#[derive(Debug, Clone, PartialEq)]
pub struct Wait {
    /// When the wait ends by itself.
    pub until: Millis,
    /// What ends it early: "activity", "comment", "task", "change".
    pub wake_on: Vec<String>,
}

impl RunState {
    /// A sandbox with no files, no environment, no sockets and a memory cap.
    pub fn new(
        db: RunDb,
        grants: Arc<Grants>,
        outbound: Arc<Outbound>,
        limits: Limits,
        now: Millis,
        run: Option<&wit::Invocation>,
    ) -> Self {
        let run_id = run.map(|run| run.run_id.clone());
        let log = RunLog::shared(limits.log_lines, limits.log_bytes);
        Self {
            // No preopened directories, no environment, no arguments, and no network: say so here
            // rather than rely on the library's defaults.
            wasi: WasiCtxBuilder::new()
                .allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false)
                .build(),
            http_ctx: WasiHttpCtx::new(),
            http: RunHttp::new(
                outbound,
                db.store().clone(),
                grants.clone(),
                log.clone(),
                run_id.clone(),
            ),
            table: ResourceTable::new(),
            memory: MemoryLimit::new(limits.memory_bytes),
            db,
            grants,
            limits,
            now,
            run_id,
            robot_id: run.map(|run| run.rule_id.clone()),
            messages: 0,
            staged: Vec::new(),
            overlay: HashMap::new(),
            log,
            wait: None,
        }
    }

    /// Takes what the run staged and logged.
    pub fn into_effects(self) -> RunEffects {
        // An outbound request still in flight holds the log too; it has nothing more to say.
        let log = std::mem::replace(&mut *self.log.lock().expect("run log lock"), RunLog::new(0, 0));
        RunEffects {
            staged: self.staged,
            logs: log.finish(),
            wait: self.wait,
        }
    }

    /// Appends a line to the run's log.
    pub(super) fn push_log(&mut self, level: &str, message: String) {
        self.log.lock().expect("run log lock").push(level, message);
    }

    /// Asks the run's grants; a denial is written to the run's log on its way back.
    pub(super) fn allow<T>(&mut self, ask: impl FnOnce(&Grants) -> Result<T, Denial>) -> Result<T, Denial> {
        ask(&self.grants).inspect_err(|denial| self.log.lock().expect("run log lock").denied(denial))
    }

    /// Counts a message against the run's cap; `None` once the cap is reached.
    pub(super) fn take_message_slot(&mut self) -> Option<usize> {
        (self.messages < self.limits.messages).then(|| {
            self.messages += 1;
            self.messages
        })
    }
}

impl WasiHttpView for RunState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http_ctx,
            table: &mut self.table,
            hooks: &mut self.http,
        }
    }
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A run's memory cap. Growing past it traps, and the limiter remembers that it did, so the run
/// record can say "memory limit" without reading the trap's text. It also keeps the most linear
/// memory the run's instance held, all its memories together, for `plugin test` to report.
pub struct MemoryLimit {
    max_bytes: usize,
    exceeded: bool,
    in_use: usize,
    peak: usize,
}

/// The trap a run gets when it grows its memory past the cap.
#[derive(Debug, thiserror::Error)]
#[error("exceeded its memory limit of {} MiB", .0 >> 20)]
pub struct MemoryLimitExceeded(pub usize);

impl MemoryLimit {
    fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            exceeded: false,
            in_use: 0,
            peak: 0,
        }
    }

    /// The most linear memory the run held at once, in bytes.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// Whether the run tried to grow its memory past the cap.
    pub fn exceeded(&self) -> bool {
        self.exceeded
    }

    fn refuse(&mut self) -> wasmtime::Result<bool> {
        self.exceeded = true;
        Err(MemoryLimitExceeded(self.max_bytes).into())
    }
}

impl ResourceLimiter for MemoryLimit {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            return self.refuse();
        }
        self.in_use += desired.saturating_sub(current);
        self.peak = self.peak.max(self.in_use);
        Ok(true)
    }

    /// The pooling allocator refuses growth past its slot size, which is the same cap.
    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.refuse().map(|_| ())
    }

    fn table_growing(&mut self, _current: usize, _desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(true)
    }
}
