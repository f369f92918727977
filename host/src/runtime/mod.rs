//! The Wasm runtime: compiling, checking and installing plugin components, and running one robot
//! in a fresh sandbox.
//!
//! One engine per host, with the pooling allocator and fuel metering. Compiled code is cached on
//! disk, keyed by the component's hash and the engine's configuration, so a restart does not
//! recompile. Each plugin version keeps an `InstancePre` (imports resolved once); each run
//! instantiates from it, with its own fuel budget and memory cap, and drops the instance after.

mod grants;
mod host;
mod limits;
mod manifest;
mod outbound;
mod outcome;
mod run_db;
mod run_log;
mod run_state;

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use crate::store;
use cap_std::fs::Dir;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use grants::{Access, Denial, Grants, Target};
pub use host::{HostFailure, to_wit_item};
pub use limits::Limits;
pub use manifest::{Capability, Manifest};
pub use outbound::{HostPost, HttpPolicy, Outbound, Unanswered};
pub use outcome::{RunOutcome, RunResult};
pub use run_db::{RunConn, RunDb, RunTx, SliceTx, begin_savepoint, end_savepoint};
pub use run_log::{LogLine, RunLog};
pub use run_state::{RunEffects, RunState, Wait};

use crate::apps::Registration;
use crate::apps::handler::{self, Endpoint};
use crate::clock::Millis;
use crate::store::{Store, StoreError};

/// Bindings generated from wit/: the host side of the `stagewright:action` world.
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "action",
        imports: { default: async | trappable },
        exports: { default: async },
        trappable_error_type: {
            "stagewright:action/crm.crm-error" => crate::runtime::host::CrmCallError,
            "stagewright:action/notify.notify-error" => crate::runtime::host::NotifyCallError,
            "stagewright:action/email.email-error" => crate::runtime::host::EmailCallError,
            "stagewright:action/sms.sms-error" => crate::runtime::host::SmsCallError,
            "stagewright:action/feed.feed-error" => crate::runtime::host::FeedCallError,
            "stagewright:action/booking.booking-error" => crate::runtime::host::BookingCallError,
        },
    });
}

use bindings::stagewright::action::types as wit;

/// Why a component could not be installed or loaded.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly binary: {0}")]
    NotWasm(String),
    /// A core module where a component is needed.
    #[error(
        "this is a core WebAssembly module, not a component; build the plugin with `cargo build --target wasm32-wasip2`"
    )]
    CoreModule,
    /// The component does not compile or validate.
    #[error("invalid component: {0}")]
    Invalid(String),
    /// The component imports or exports something other than the stagewright:action world.
    #[error("the component does not implement the stagewright:action world: {0}")]
    WrongWorld(String),
    /// `describe` trapped, ran out of its budget or returned a bad manifest.
    #[error("describe() failed: {0}")]
    Describe(String),
    /// The manifest breaks the rules for ids, versions, schemas or capabilities.
    #[error("bad manifest: {0}")]
    BadManifest(String),
    /// The same id and version is installed with different code.
    #[error("plugin {id} {version} is already installed with different code; give the new build a new version")]
    VersionConflict {
        /// Plugin id.
        id: String,
        /// Plugin version.
        version: String,
    },
    /// A plugin that ships with the host did not install.
    #[error("built-in plugin {name}: {source}")]
    Builtin {
        /// Its folder name.
        name: String,
        /// Why.
        source: Box<PluginError>,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine could not be set up.
    #[error("wasm engine: {0}")]
    Engine(String),
}

/// Memory and table bytes a pooled slot keeps mapped between runs, reset in place (only the
/// pages a run touched, where the kernel offers PAGEMAP_SCAN) instead of unmapped, so the next
/// run does not pay a page fault for every page it touches.
const RESIDENT_BYTES: usize = 4 << 20;

/// The prefix of the contract's interface names, before the interface and its version.
const CONTRACT_PACKAGE: &str = "stagewright:action/";

/// How often a long-running guest yields to the async runtime, in fuel.
const FUEL_YIELD_INTERVAL: u64 = 1_000_000;

/// An installed, compiled, pre-linked plugin version.
pub struct Plugin {
    /// Its manifest.
    pub manifest: Arc<Manifest>,
    /// SHA-256 of its component, hex.
    pub sha256: String,
    /// Whether it ships with the host.
    pub builtin: bool,
    /// What its manifest grants, worked out once.
    pub grants: Arc<Grants>,
    /// The `stagewright:action` contract version it was built against: the newest version among
    /// its imports of the contract's interfaces.
    pub contract: Option<semver::Version>,
    body: PluginBody,
}

/// What carries out a plugin's runs.
enum PluginBody {
    /// A Wasm component, pre-linked.
    Wasm(bindings::ActionPre<RunState>),
    /// A Bitrix24 app's handler, called over HTTP ([`crate::apps`]).
    App(Arc<Registration>),
}

impl Plugin {
    /// The app robot's registration, when this plugin is a Bitrix24 app's robot.
    pub fn app(&self) -> Option<&Registration> {
        match &self.body {
            PluginBody::App(registration) => Some(registration),
            PluginBody::Wasm(_) => None,
        }
    }
}

/// The engine, the compiled-code cache and the installed plugins.
pub struct Runtime {
    engine: Engine,
    linker: Linker<RunState>,
    engine_key: u64,
    cache: Dir,
    limits: Limits,
    outbound: Arc<Outbound>,
    plugins: RwLock<HashMap<String, BTreeMap<semver::Version, Arc<Plugin>>>>,
    /// Where apps reach this host back, known once it listens.
    endpoint: OnceLock<Endpoint>,
}

impl Runtime {
    /// Sets up the engine; compiled code is cached in `cache`.
    pub fn new(cache: Dir, limits: Limits, http: HttpPolicy) -> Result<Self, PluginError> {
        let engine_error = |e: wasmtime::Error| PluginError::Engine(format!("{e:#}"));
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(256)
            .total_core_instances(1024)
            .total_memories(256)
            .total_tables(1024)
            .max_memory_size(limits.memory_bytes)
            .linear_memory_keep_resident(RESIDENT_BYTES)
            .table_keep_resident(RESIDENT_BYTES)
            .pagemap_scan(Enabled::Auto);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .concurrency_support(false)
            .consume_fuel(true)
            .memory_reservation(1 << 30)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(engine_error)?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_error)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(engine_error)?;
        let outbound = Outbound::new(http).map_err(|e| PluginError::Engine(format!("TLS set-up: {e}")))?;
        bindings::Action::add_to_linker::<RunState, HasSelf<RunState>>(&mut linker, |s| s).map_err(engine_error)?;
        Ok(Self {
            engine,
            linker,
            engine_key: hasher.finish(),
            cache,
            limits,
            outbound: Arc::new(outbound),
            plugins: RwLock::new(HashMap::new()),
            endpoint: OnceLock::new(),
        })
    }

    /// The newest installed version of a plugin that meets `requirement` (the newest of all
    /// when `None`).
    pub fn plugin(&self, id: &str, requirement: Option<&semver::VersionReq>) -> Option<Arc<Plugin>> {
        let plugins = self.plugins.read().expect("plugin registry lock");
        plugins.get(id).and_then(|versions| {
            versions
                .iter()
                .rev()
                .find(|(version, _)| requirement.is_none_or(|r| r.matches(version)))
                .map(|(_, plugin)| plugin.clone())
        })
    }

    /// Every installed plugin version, by id then version.
    pub fn plugins(&self) -> Vec<Arc<Plugin>> {
        let plugins = self.plugins.read().expect("plugin registry lock");
        let mut all: Vec<_> = plugins.values().flat_map(|v| v.values().cloned()).collect();
        all.sort_by(|a, b| a.manifest.id.cmp(&b.manifest.id));
        all
    }

    /// Loads every uploaded plugin recorded in the database (at start-up). One that no longer
    /// loads is logged and left out, so it cannot keep the host from serving; its robots' runs
    /// fail with "not installed" until it is uploaded again. Built-in plugins are not among them:
    /// their code is the binary's ([`Runtime::install_builtins`]).
    pub async fn load_installed(&self, store: &Store) -> Result<(), PluginError> {
        // One build in memory at a time: all of them at once would be tens of MiB for a moment,
        // which the allocator keeps for the life of the process.
        let installed = store::query("SELECT id, version FROM plugins WHERE builtin = 0")
            .fetch_all(store.pool())
            .await?;
        for row in installed {
            let (id, version): (String, String) = (row.try_get("id")?, row.try_get("version")?);
            let wasm: Vec<u8> = store::query_scalar("SELECT wasm FROM plugins WHERE id = $1 AND version = $2")
                .bind(&id)
                .bind(&version)
                .fetch_one(store.pool())
                .await?;
            match self.prepare(store, &wasm, false).await {
                Ok(plugin) => {
                    self.register(plugin);
                }
                Err(e) => {
                    tracing::error!(plugin = %id, %version, error = %e, "installed plugin does not load; skipped")
                }
            }
        }
        Ok(())
    }

    /// Installs the plugins that ship with the binary, and retires the built-in versions an
    /// earlier binary installed that this one no longer ships: their code was that binary's, and
    /// the database keeps no copy of it.
    pub async fn install_builtins(
        &self,
        store: &Store,
        components: &[(&str, &[u8])],
        now: Millis,
    ) -> Result<(), PluginError> {
        let mut shipped = Vec::with_capacity(components.len());
        for (name, wasm) in components {
            let plugin = self
                .install(store, wasm, true, now)
                .await
                .map_err(|e| PluginError::Builtin {
                    name: (*name).to_string(),
                    source: Box::new(e),
                })?;
            shipped.push((plugin.manifest.id.clone(), plugin.manifest.version.clone()));
        }
        let mut tx = store.write().await?;
        let recorded = store::query("SELECT id, version FROM plugins WHERE builtin = 1")
            .fetch_all(&mut tx)
            .await?;
        for row in recorded {
            let (id, version): (String, String) = (row.try_get("id")?, row.try_get("version")?);
            if shipped.iter().any(|(i, v)| *i == id && *v == version) {
                continue;
            }
            store::query("DELETE FROM plugins WHERE id = $1 AND version = $2 AND builtin = 1")
                .bind(&id)
                .bind(&version)
                .execute(&mut tx)
                .await?;
            tracing::warn!(plugin = %id, %version, "built-in plugin version no longer ships with this binary; retired");
        }
        tx.commit().await?;
        Ok(())
    }

    /// Checks a component and installs it: it must be a component of the stagewright:action world
    /// whose `describe` returns a valid manifest. Installing the same build again is a no-op.
    pub async fn install(
        &self,
        store: &Store,
        wasm: &[u8],
        builtin: bool,
        now: Millis,
    ) -> Result<Arc<Plugin>, PluginError> {
        let plugin = self.prepare(store, wasm, builtin).await?;
        let m = &plugin.manifest;
        let mut tx = store.write().await?;
        let existing: Option<String> = store::query_scalar("SELECT sha256 FROM plugins WHERE id = $1 AND version = $2")
            .bind(&m.id)
            .bind(&m.version)
            .fetch_optional(&mut *tx)
            .await?;
        match existing {
            Some(sha) if sha == plugin.sha256 => {}
            // A user's build must bump its version; a built-in one belongs to the host binary, which
            // replaces it (a development build can change a plugin without a new version).
            Some(_) if !builtin => {
                return Err(PluginError::VersionConflict {
                    id: m.id.clone(),
                    version: m.version.clone(),
                });
            }
            _ => {
                store::query(
                    "INSERT INTO plugins (id, version, sha256, manifest, wasm, builtin, installed_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (id, version) DO UPDATE
                     SET sha256 = excluded.sha256, manifest = excluded.manifest, wasm = excluded.wasm,
                         builtin = excluded.builtin, installed_at = excluded.installed_at",
                )
                .bind(&m.id)
                .bind(&m.version)
                .bind(&plugin.sha256)
                .bind(serde_json::to_string(&**m).expect("manifest serializes"))
                // A built-in's code is the binary's: storing it too would double the empty data
                // directory.
                .bind(if builtin { &[][..] } else { wasm })
                .bind(i64::from(builtin))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(self.register(plugin))
    }

    /// The outbound HTTP rules and TLS set-up, for requests the host makes itself (the SMS
    /// gateway's).
    pub fn outbound(&self) -> Arc<Outbound> {
        self.outbound.clone()
    }

    /// Tells the runtime the host's base URL once it listens: app robots' handlers are told it
    /// as the endpoint to call back.
    pub fn set_base_url(&self, base_url: String) {
        let _ = self.endpoint.set(Endpoint { base_url });
    }

    /// Lists a Bitrix24 app's robot in the catalogue as plugin `app:<CODE>`, replacing its
    /// earlier registration.
    pub fn register_app(&self, registration: Registration) -> Arc<Plugin> {
        let manifest = registration.manifest();
        let mut plugins = self.plugins.write().expect("plugin registry lock");
        plugins.remove(&manifest.id);
        drop(plugins);
        self.register(Plugin {
            grants: Arc::new(Grants::of(&manifest)),
            manifest: Arc::new(manifest),
            sha256: String::new(),
            builtin: false,
            contract: None,
            body: PluginBody::App(Arc::new(registration)),
        })
    }

    /// Takes a Bitrix24 app's robot out of the catalogue.
    pub fn unregister_app(&self, code: &str) {
        let mut plugins = self.plugins.write().expect("plugin registry lock");
        plugins.remove(&crate::apps::plugin_id(code));
    }

    /// Checks a component as [`Runtime::install`] does and answers what it is and asks for,
    /// installing nothing: what an admin reviews before confirming an upload.
    pub async fn inspect(&self, store: &Store, wasm: &[u8]) -> Result<Plugin, PluginError> {
        self.prepare(store, wasm, false).await
    }

    fn register(&self, plugin: Plugin) -> Arc<Plugin> {
        let version = semver::Version::parse(&plugin.manifest.version).expect("checked in Manifest::from_wit");
        let plugin = Arc::new(plugin);
        let mut plugins = self.plugins.write().expect("plugin registry lock");
        plugins
            .entry(plugin.manifest.id.clone())
            .or_default()
            .insert(version, plugin.clone());
        plugin
    }

    async fn prepare(&self, store: &Store, wasm: &[u8], builtin: bool) -> Result<Plugin, PluginError> {
        check_header(wasm)?;
        let sha256 = hex::encode(Sha256::digest(wasm));
        let component = self.compile(wasm, &sha256).await?;
        let contract = self.contract_of(&component);
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::WrongWorld(format!("{e:#}")))?;
        let pre = bindings::ActionPre::new(instance_pre).map_err(|e| PluginError::WrongWorld(format!("{e:#}")))?;
        // describe() runs with no capabilities: a manifest is not yet granted.
        let mut sandbox = self.sandbox(RunDb::own(store.clone()), Arc::default(), 0, None)?;
        let call = async {
            let instance = pre.instantiate_async(&mut sandbox).await?;
            instance.call_describe(&mut sandbox).await
        };
        let described = tokio::time::timeout(self.limits.wall_time, call)
            .await
            .map_err(|_| PluginError::Describe(format!("took longer than {:?}", self.limits.wall_time)))?
            .map_err(|e| {
                PluginError::Describe(outcome::explain_trap(
                    &e,
                    &self.limits,
                    sandbox.data().memory.exceeded(),
                ))
            })?;
        let manifest = Manifest::from_wit(described)?;
        Ok(Plugin {
            contract,
            grants: Arc::new(Grants::of(&manifest)),
            manifest: Arc::new(manifest),
            sha256,
            builtin,
            body: PluginBody::Wasm(pre),
        })
    }

    /// The contract version a component was built against, read from the versions of the
    /// `stagewright:action/...@0.1.x` interfaces it imports.
    fn contract_of(&self, component: &Component) -> Option<semver::Version> {
        component
            .component_type()
            .imports(&self.engine)
            .filter_map(|(name, _)| name.strip_prefix(CONTRACT_PACKAGE)?.split_once('@'))
            .filter_map(|(_, version)| semver::Version::parse(version).ok())
            .max()
    }

    /// Compiles a component, or loads its compiled code from the cache.
    async fn compile(&self, wasm: &[u8], sha256: &str) -> Result<Component, PluginError> {
        let key = format!("{sha256}-{:016x}.cwasm", self.engine_key);
        if let Ok(bytes) = self.cache.read(&key) {
            // SAFETY: the cache directory is the host's own and only ever holds code this engine
            // configuration serialized (the key includes its compatibility hash).
            if let Ok(component) = unsafe { Component::deserialize(&self.engine, &bytes) } {
                return Ok(component);
            }
        }
        let engine = self.engine.clone();
        let wasm = wasm.to_vec();
        let component = tokio::task::spawn_blocking(move || Component::new(&engine, &wasm))
            .await
            .map_err(|e| PluginError::Engine(e.to_string()))?
            .map_err(|e| PluginError::Invalid(format!("{e:#}")))?;
        if let Ok(bytes) = component.serialize() {
            let tmp = format!("{key}.{}.tmp", rand::random::<u64>());
            if self.cache.write(&tmp, &bytes).is_ok() && self.cache.rename(&tmp, &self.cache, &key).is_err() {
                let _ = self.cache.remove_file(&tmp);
            }
        }
        Ok(component)
    }

    fn sandbox(
        &self,
        db: RunDb,
        grants: Arc<Grants>,
        now: Millis,
        run: Option<&wit::Invocation>,
    ) -> Result<wasmtime::Store<RunState>, PluginError> {
        let state = RunState::new(db, grants, self.outbound.clone(), self.limits, now, run);
        let mut sandbox = wasmtime::Store::new(&self.engine, state);
        sandbox.limiter(|s| &mut s.memory);
        let engine_error = |e: wasmtime::Error| PluginError::Engine(format!("{e:#}"));
        sandbox.set_fuel(self.limits.fuel).map_err(engine_error)?;
        sandbox
            .fuel_async_yield_interval(Some(FUEL_YIELD_INTERVAL))
            .map_err(engine_error)?;
        Ok(sandbox)
    }

    /// The bounds every run is held to.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Runs a plugin once, in a fresh instance, within the run bounds.
    pub async fn run(
        &self,
        store: &Store,
        plugin: &Plugin,
        invocation: &wit::Invocation,
        now: Millis,
    ) -> Result<RunOutcome, PluginError> {
        self.run_on(
            RunDb::own(store.clone()),
            plugin,
            invocation,
            now,
            self.limits.wall_time,
        )
        .await
    }

    /// Whether a plugin's runs may reach outside the host: a Bitrix24 app's handler, or a Wasm
    /// plugin granted outbound HTTP (any installed version). What they send cannot be taken
    /// back, so they never run inside a chain slice, whose commit is still to come.
    pub fn reaches_outside(&self, plugin_id: &str) -> bool {
        let plugins = self.plugins.read().expect("plugin registry lock");
        plugins.get(plugin_id).is_some_and(|versions| {
            versions
                .values()
                .any(|plugin| plugin.app().is_some() || plugin.grants.reaches_outside())
        })
    }

    /// Runs a plugin once, like [`Self::run`], its host calls reaching the database through
    /// `db`, and cut off after `wall_time` (at most the run bound).
    pub async fn run_on(
        &self,
        db: RunDb,
        plugin: &Plugin,
        invocation: &wit::Invocation,
        now: Millis,
        wall_time: std::time::Duration,
    ) -> Result<RunOutcome, PluginError> {
        let wall_time = wall_time.min(self.limits.wall_time);
        let pre = match &plugin.body {
            PluginBody::Wasm(pre) => pre,
            PluginBody::App(registration) => {
                let endpoint = self.endpoint.get().cloned().unwrap_or_default();
                let called = handler::call(
                    &self.outbound,
                    db.store(),
                    registration,
                    &endpoint,
                    invocation,
                    &self.limits,
                    now,
                );
                return Ok(called.await);
            }
        };
        let mut sandbox = self.sandbox(db, plugin.grants.clone(), now, Some(invocation))?;
        let started = Instant::now();
        let call = async {
            let instance = pre.instantiate_async(&mut sandbox).await?;
            instance.call_run(&mut sandbox, invocation).await
        };
        let result = match tokio::time::timeout(wall_time, call).await {
            Err(_) => RunResult::Failed {
                error: format!("exceeded its wall-clock limit of {wall_time:?}"),
                transient: true,
            },
            Ok(Err(trap)) => RunResult::Failed {
                error: outcome::explain_trap(&trap, &self.limits, sandbox.data().memory.exceeded()),
                transient: trap.downcast_ref::<HostFailure>().is_some(),
            },
            Ok(Ok(Err(error))) => outcome::action_error(error),
            Ok(Ok(Ok(values))) => match serde_json::from_str::<serde_json::Value>(&values) {
                Ok(v) if v.is_object() => RunResult::Succeeded(v),
                _ => RunResult::Failed {
                    error: "returned values that are not a JSON object".into(),
                    transient: false,
                },
            },
        };
        let duration = started.elapsed();
        let fuel_used = self.limits.fuel.saturating_sub(sandbox.get_fuel().unwrap_or(0));
        let memory_bytes = sandbox.data().memory.peak();
        let effects = sandbox.into_data().into_effects();
        Ok(RunOutcome {
            result,
            fuel_used,
            memory_bytes,
            duration,
            effects,
        })
    }
}

/// What one run of `robot_id` for `item` gets to know, its config's templates already resolved.
pub fn invocation(
    run_id: &str,
    robot_id: &str,
    item: &crate::model::Item,
    config: &serde_json::Value,
    previous: serde_json::Map<String, serde_json::Value>,
    attempt: i64,
    now: Millis,
) -> wit::Invocation {
    wit::Invocation {
        run_id: run_id.to_string(),
        rule_id: robot_id.to_string(),
        item: to_wit_item(item),
        config: config.to_string(),
        previous: serde_json::Value::Object(previous).to_string(),
        attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
        now_ms: u64::try_from(now).unwrap_or_default(),
    }
}

/// Tells random bytes and core modules apart from components before the compiler does, so the
/// error names the real problem.
fn check_header(wasm: &[u8]) -> Result<(), PluginError> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(PluginError::NotWasm(
            "it does not start with the \\0asm magic number".into(),
        ));
    }
    match wasm[4..8] {
        [1, 0, 0, 0] => Err(PluginError::CoreModule),
        [_, _, 1, 0] => Ok(()),
        _ => Err(PluginError::NotWasm(format!(
            "unknown version/layer bytes {:02x?}",
            &wasm[4..8]
        ))),
    }
}
