//! A scratch host: a temporary SQLite store, the real runtime with its limits, one installed
//! plugin, and an item to run it for. Runs go through the same steps as a robot's run on a
//! server: the config's templates resolved against the item, the plugin run in a fresh sandbox,
//! and, if it succeeded, its writes applied in a transaction as the scheduler applies them.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use serde_json::{Map, Value};

use crate::changeset;
use crate::clock::{Clock, Millis};
use crate::crm;
use crate::model::{EntityType, Item, Write, check_fields};
use crate::queue::RunStatus;
use crate::rules::{Engine, Robot, Timing, template};
use crate::runtime::{HttpPolicy, Limits, LogLine, Manifest, Plugin, RunResult, Runtime};
use crate::store::Store;

/// A host of one's own for trying a plugin.
pub struct ScratchHost {
    store: Store,
    runtime: Runtime,
    plugin: Arc<Plugin>,
    now: Millis,
    _dir: tempfile::TempDir,
}

/// The item a run is for: its entity type (a deal unless said) and fields.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemSpec {
    /// "deal", "lead", "contact" or "company".
    #[serde(default)]
    pub entity_type: Option<String>,
    /// Its fields, by Bitrix24 name.
    #[serde(default)]
    pub fields: Map<String, Value>,
}

/// One run, as a run record shows it, with the writes it made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    /// Succeeded or failed.
    pub status: RunStatus,
    /// Why it failed.
    pub error: Option<String>,
    /// Whether a failure would be retried.
    pub transient: bool,
    /// What it returned.
    pub returns: Option<Value>,
    /// What it wrote (see `StagedChange::describe`).
    pub writes: Vec<Value>,
    /// Its log.
    pub logs: Vec<LogLine>,
    /// Fuel burned.
    pub fuel: u64,
    /// The most linear memory the instance held, in bytes.
    pub memory_bytes: usize,
    /// Time in the sandbox, host calls included.
    pub duration: Duration,
    /// The config as the plugin got it, templates resolved.
    pub config: Value,
}

impl ScratchHost {
    /// Starts a scratch host with `wasm` installed, checked as an upload is, its compiled code
    /// kept in (and, if there already, read from) `compiled_code`. Compiling a large component
    /// (a Python one is ~19 MB) takes seconds, so it says so on stderr first.
    pub async fn start(wasm: &[u8], compiled_code: &Path) -> anyhow::Result<Self> {
        if wasm.len() > 4 << 20 {
            eprintln!("compiling the {:.1} MB component…", wasm.len() as f64 / 1e6);
        }
        let dir = tempfile::tempdir().context("a temporary directory")?;
        let store = Store::open_sqlite(dir.path()).await.context("a scratch database")?;
        std::fs::create_dir_all(compiled_code).with_context(|| format!("{}", compiled_code.display()))?;
        let cache = Dir::open_ambient_dir(compiled_code, ambient_authority())?;
        let runtime = Runtime::new(cache, Limits::default(), HttpPolicy::default())?;
        let now = Clock::System.now();
        let plugin = runtime.install(&store, wasm, false, now).await?;
        Ok(Self {
            store,
            runtime,
            plugin,
            now,
            _dir: dir,
        })
    }

    /// What the plugin says it is and needs.
    pub fn manifest(&self) -> &Manifest {
        &self.plugin.manifest
    }

    /// Runs the plugin once for a new item made from `item`, with `config`.
    pub async fn run(&self, item: &ItemSpec, config: &Value, attempt: i64) -> anyhow::Result<RunReport> {
        let item = self.seed(item).await?;
        let robot = Robot {
            id: "r_scratch".into(),
            entity_type: item.item_ref.entity_type.to_string(),
            category_id: item.category_id.unwrap_or_default(),
            stage_id: item.stage_id.clone().unwrap_or_default(),
            name: self.plugin.manifest.name.clone(),
            plugin_id: self.plugin.manifest.id.clone(),
            plugin_version: None,
            config: config.clone(),
            timing: Timing::default(),
            condition: None,
            after_previous: false,
            sort: 0,
            created_at: self.now,
        };
        if let Err(why) = self.plugin.manifest.check_config(config) {
            return Ok(RunReport::refused(why, config.clone()));
        }
        let mut links = template::LinkedRecords::new(self.store.pool());
        let resolved = match template::resolve_config(&mut links, &robot, &item, &Map::new(), self.now).await? {
            Ok(config) => config,
            Err(why) => return Ok(RunReport::refused(format!("config template: {why}"), config.clone())),
        };
        drop(links);
        let run_id = format!("run_scratch_{attempt}");
        let invocation =
            crate::runtime::invocation(&run_id, &robot.id, &item, &resolved, Map::new(), attempt, self.now);
        let outcome = self
            .runtime
            .run(&self.store, &self.plugin, &invocation, self.now)
            .await?;
        let writes = outcome.effects.staged.iter().map(|c| c.describe()).collect();
        let mut report = RunReport {
            status: RunStatus::Succeeded,
            error: None,
            transient: false,
            returns: None,
            writes,
            logs: outcome.effects.logs.clone(),
            fuel: outcome.fuel_used,
            memory_bytes: outcome.memory_bytes,
            duration: outcome.duration,
            config: resolved,
        };
        match outcome.result {
            RunResult::Succeeded(values) => {
                report.returns = Some(values);
                let mut tx = self.store.write().await?;
                if let Err(e) = changeset::apply(&mut tx, &Engine, &outcome.effects.staged, self.now).await {
                    report.status = RunStatus::Failed;
                    report.error = Some(format!("its changes could not be applied: {e}"));
                } else {
                    tx.commit().await?;
                }
            }
            RunResult::Failed { error, transient } => {
                report.status = RunStatus::Failed;
                report.error = Some(error);
                report.transient = transient;
                report.writes.clear();
            }
        }
        Ok(report)
    }

    /// Creates the item in the first stage of its default pipeline.
    async fn seed(&self, spec: &ItemSpec) -> anyhow::Result<Item> {
        let entity_type = EntityType::parse(spec.entity_type.as_deref().unwrap_or("deal"))?;
        if matches!(entity_type, EntityType::Dynamic(_)) {
            anyhow::bail!("a scratch host has no smart processes yet: test with a deal, lead, contact or company");
        }
        let changes = check_fields(entity_type, &[], &spec.fields, Write::Create)?;
        let mut tx = self.store.write().await?;
        let written = crm::create(&mut tx, &Engine, entity_type, None, changes, 1, self.now).await?;
        tx.commit().await?;
        let mut conn = self.store.pool().acquire().await?;
        Ok(crm::get(&mut conn, written.item).await?)
    }
}

impl RunReport {
    /// A run the host refused before the plugin ran (a config that does not fit the schema, a
    /// template that names nothing).
    fn refused(error: String, config: Value) -> Self {
        Self {
            status: RunStatus::Failed,
            error: Some(error),
            transient: false,
            returns: None,
            writes: Vec::new(),
            logs: Vec::new(),
            fuel: 0,
            memory_bytes: 0,
            duration: Duration::ZERO,
            config,
        }
    }
}
