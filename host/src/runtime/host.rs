//! What a plugin can reach from inside its sandbox: the `crm`, `directory`, `notify`, `email`,
//! `flow` and `log` imports, and outbound HTTP through `wasi:http` (see `outbound`).
//!
//! Reads go to the database (through this run's staged writes); writes are checked against the
//! manifest and the CRM's rules at once, so the plugin sees errors where it made them, but only
//! staged. The scheduler applies the staged changes in the transaction that records the run.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};
use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::stagewright::action::crm::{self, CrmError as WitCrmError};
use super::bindings::stagewright::action::directory as wit_directory;
use super::bindings::stagewright::action::email::{
    self, EmailError, Message as WitMessage, Recipient as EmailRecipient,
};
use super::bindings::stagewright::action::flow::{self, WakeOn};
use super::bindings::stagewright::action::log::{self, Level};
use super::bindings::stagewright::action::notify::{self, NotifyError, Recipient as NotifyRecipient};
use super::bindings::stagewright::action::types::{self as wit, Item as WitItem, ItemRef as WitRef};
use super::manifest::{Capability, EXCEPTIONS, Manifest, TASKS, USERS};
use super::outbound::{Outbound, RunHttp};
use crate::clock::Millis;
use crate::crm as ops;
use crate::crm::activities::{self, ActivityChanges};
use crate::crm::repeat::{self, Comparable, NewExceptions};
use crate::directory::{self, AUTOMATION_USER};
use crate::mailer::{self, OutgoingEmail};
use crate::model::{CrmError, EntityType, FieldChanges, Item, ItemRef, Write, check_fields};
use crate::notifications::{self, NewNotification};
use crate::store::{Store, Tx};
use crate::tasks::{self, TaskChanges};

/// Most log lines and bytes one run keeps; the rest is counted, not stored.
const MAX_LOG_LINES: usize = 200;
const MAX_LOG_BYTES: usize = 64 * 1024;

/// A write a plugin made, applied when its run commits.
#[derive(Debug, Clone)]
pub enum StagedChange {
    /// A new item, with the id the plugin was told.
    Create {
        /// Its reference.
        item_ref: ItemRef,
        /// Its fields.
        changes: FieldChanges,
    },
    /// Changed fields and/or a stage move.
    Update {
        /// Which item.
        item_ref: ItemRef,
        /// The change.
        changes: FieldChanges,
    },
    /// A deleted item.
    Delete(ItemRef),
    /// A timeline comment.
    Comment {
        /// Which item.
        item_ref: ItemRef,
        /// The comment id the plugin was told.
        id: i64,
        /// Its text.
        text: String,
    },
    /// A scheduled activity.
    Activity {
        /// The activity id the plugin was told.
        id: i64,
        /// Its fields, owner included.
        changes: ActivityChanges,
    },
    /// A task for an employee.
    Task {
        /// The task id the plugin was told.
        id: i64,
        /// Its fields.
        changes: TaskChanges,
    },
    /// A notification to a user.
    Notification(NewNotification),
    /// An email for the outbox.
    Email(OutgoingEmail),
    /// Phones and emails for the repeat-lead exception list.
    Exceptions(NewExceptions),
}

impl StagedChange {
    /// Applies the change through the same CRM operations the REST API uses.
    pub async fn apply(&self, tx: &mut Tx, now: Millis) -> Result<(), CrmError> {
        match self {
            StagedChange::Create { item_ref, changes } => {
                ops::create(
                    tx,
                    item_ref.entity_type,
                    Some(item_ref.id),
                    changes.clone(),
                    AUTOMATION_USER,
                    now,
                )
                .await?;
            }
            StagedChange::Update { item_ref, changes } => {
                ops::update(tx, *item_ref, changes.clone(), now).await?;
            }
            StagedChange::Delete(item_ref) => ops::delete(tx, *item_ref, now).await?,
            StagedChange::Comment { item_ref, id, text } => {
                ops::add_comment(tx, *item_ref, Some(*id), AUTOMATION_USER, text, now).await?;
            }
            StagedChange::Activity { id, changes } => {
                activities::add(tx, Some(*id), changes, AUTOMATION_USER, now).await?;
            }
            StagedChange::Task { id, changes } => {
                tasks::add(tx, Some(*id), changes, AUTOMATION_USER, now).await?;
            }
            StagedChange::Notification(notification) => {
                notifications::add(tx, notification, now).await?;
            }
            StagedChange::Email(email) => mailer::queue(tx, email, now).await?,
            StagedChange::Exceptions(new) => {
                repeat::add(tx, new, now).await?;
            }
        }
        Ok(())
    }
}

/// Most emails and notifications one run may send: a loop in a plugin must not flood inboxes.
const MAX_MESSAGES_PER_RUN: usize = 50;

/// One line a plugin logged.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema)]
pub struct LogLine {
    /// "debug", "info", "warn" or "error".
    pub level: String,
    /// What it said.
    pub message: String,
}

/// The store data of one sandboxed run.
pub struct RunState {
    wasi: WasiCtx,
    http_ctx: WasiHttpCtx,
    http: RunHttp,
    table: ResourceTable,
    pub(super) limits: StoreLimits,
    store: Store,
    manifest: Arc<Manifest>,
    now: Millis,
    run_id: Option<String>,
    robot_id: Option<String>,
    messages: usize,
    staged: Vec<StagedChange>,
    overlay: HashMap<ItemRef, Option<Item>>,
    logs: Vec<LogLine>,
    log_bytes: usize,
    dropped_lines: usize,
    wait: Option<Wait>,
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
        store: Store,
        manifest: Arc<Manifest>,
        outbound: Arc<Outbound>,
        now: Millis,
        run: Option<&wit::Invocation>,
        memory_bytes: usize,
    ) -> Self {
        let run_id = run.map(|run| run.run_id.clone());
        let http_grants = manifest
            .capabilities
            .iter()
            .filter_map(|c| match c {
                Capability::Http(host) => Some(host.clone()),
                _ => None,
            })
            .collect();
        Self {
            // No preopened directories, no environment, no arguments, and no network: say so here
            // rather than rely on the library's defaults.
            wasi: WasiCtxBuilder::new()
                .allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false)
                .build(),
            http_ctx: WasiHttpCtx::new(),
            http: RunHttp::new(outbound, store.clone(), http_grants, run_id.clone()),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
            store,
            manifest,
            now,
            run_id,
            robot_id: run.map(|run| run.rule_id.clone()),
            messages: 0,
            staged: Vec::new(),
            overlay: HashMap::new(),
            logs: Vec::new(),
            log_bytes: 0,
            dropped_lines: 0,
            wait: None,
        }
    }

    /// Takes what the run staged and logged.
    pub fn into_effects(mut self) -> RunEffects {
        self.take_http_log();
        if self.dropped_lines > 0 {
            self.logs.push(LogLine {
                level: "warn".into(),
                message: format!(
                    "{} more log lines were dropped (limit {MAX_LOG_LINES} lines, {MAX_LOG_BYTES} bytes)",
                    self.dropped_lines
                ),
            });
        }
        RunEffects {
            staged: self.staged,
            logs: self.logs,
            wait: self.wait,
        }
    }

    /// Moves the lines outbound requests wrote into the run's log, in order with the plugin's own.
    fn take_http_log(&mut self) {
        for line in self.http.take_log() {
            self.keep_log_line(&line.level, line.message);
        }
    }

    fn push_log(&mut self, level: &str, message: String) {
        self.take_http_log();
        self.keep_log_line(level, message);
    }

    fn keep_log_line(&mut self, level: &str, message: String) {
        if self.logs.len() >= MAX_LOG_LINES || self.log_bytes + message.len() > MAX_LOG_BYTES {
            self.dropped_lines += 1;
            return;
        }
        self.log_bytes += message.len();
        self.logs.push(LogLine {
            level: level.into(),
            message,
        });
    }

    fn deny(&mut self, what: String) -> WitCrmError {
        self.push_log(
            "error",
            format!("denied: {what} is not among the plugin's capabilities"),
        );
        WitCrmError::Denied(what)
    }

    fn check_read(&mut self, entity_type: &str) -> Result<EntityType, WitCrmError> {
        if !self.manifest.may_read(entity_type) {
            return Err(self.deny(format!("read:{entity_type}")));
        }
        EntityType::parse(entity_type).map_err(|e| WitCrmError::Invalid(e.to_string()))
    }

    fn check_write(&mut self, entity_type: &str) -> Result<EntityType, WitCrmError> {
        if !self.manifest.may_write(entity_type) {
            return Err(self.deny(format!("write:{entity_type}")));
        }
        EntityType::parse(entity_type).map_err(|e| WitCrmError::Invalid(e.to_string()))
    }

    async fn read(&mut self, item_ref: ItemRef) -> Result<Item, HostError> {
        match self.overlay.get(&item_ref) {
            Some(Some(item)) => Ok(item.clone()),
            Some(None) => Err(WitCrmError::NotFound(to_wit_ref(item_ref)).into()),
            None => {
                let mut conn = self.store.pool().acquire_quick().await.map_err(host_failure)?;
                Ok(ops::get(&mut conn, item_ref)
                    .await
                    .map_err(|e| crm_error(e, item_ref))?)
            }
        }
    }

    async fn writable(&mut self, r: &WitRef) -> Result<Item, HostError> {
        let entity_type = self.check_write(&r.entity_type)?;
        let item_ref = ItemRef {
            entity_type,
            id: id_of(r)?,
        };
        self.read(item_ref).await
    }

    /// Checks fields a plugin sends against the type's standard and custom fields.
    async fn check_fields(
        &mut self,
        entity_type: EntityType,
        fields: &str,
        write: Write,
    ) -> Result<FieldChanges, HostError> {
        let input = parse_object("fields", fields)?;
        let mut conn = self.store.pool().acquire_quick().await.map_err(host_failure)?;
        let custom = ops::userfields::userfields(&mut conn, entity_type)
            .await
            .map_err(host_failure)?;
        Ok(check_fields(entity_type, &custom, &input, write).map_err(|e| WitCrmError::Invalid(e.to_string()))?)
    }

    async fn next_id(&mut self, sequence: &str) -> Result<i64, HostError> {
        self.store.reserve_id(sequence).await.map_err(host_failure)
    }

    async fn stage_update(&mut self, mut item: Item, changes: FieldChanges) -> Result<(), HostError> {
        if let Some(stage_id) = &changes.stage_id {
            let mut conn = self.store.pool().acquire_quick().await.map_err(host_failure)?;
            let stage = ops::stage(&mut conn, item.item_ref.entity_type, stage_id)
                .await
                .map_err(|e| crm_error(e, item.item_ref))?;
            if Some(stage.category_id) != item.category_id {
                return Err(WitCrmError::Invalid(format!("stage {stage_id} is not in the item's pipeline")).into());
            }
            item.stage_id = Some(stage_id.clone());
            item.stage_semantic = Some(stage.semantics.clone());
        }
        item.fields = changes
            .applied_to(&item.fields)
            .map_err(|e| WitCrmError::Invalid(e.to_string()))?;
        let item_ref = item.item_ref;
        self.overlay.insert(item_ref, Some(item));
        self.staged.push(StagedChange::Update { item_ref, changes });
        Ok(())
    }
}

impl RunState {
    /// The phones and emails of an item, or, when it has none, of its contact and company.
    async fn client_values(&mut self, item_ref: ItemRef) -> Result<Vec<Comparable>, HostError> {
        let item = self.read(item_ref).await?;
        let own = repeat::values_of(&item.fields);
        if !own.is_empty() {
            return Ok(own);
        }
        let mut values = Vec::new();
        for (field, entity_type) in [("CONTACT_ID", EntityType::Contact), ("COMPANY_ID", EntityType::Company)] {
            let Some(id) = item.fields.get(field).and_then(Value::as_i64) else {
                continue;
            };
            self.check_read(&entity_type.to_string())?;
            let client = self.read(ItemRef { entity_type, id }).await?;
            for value in repeat::values_of(&client.fields) {
                if !values.contains(&value) {
                    values.push(value);
                }
            }
        }
        Ok(values)
    }

    /// Applies a change after the run's earlier ones the way the scheduler will, in a transaction
    /// that is rolled back, so the plugin hears about a dismissed responsible or a missing
    /// binding at its call (and may bind to an item it created itself).
    async fn dry_run(&mut self, change: &StagedChange) -> Result<(), HostError> {
        let mut tx = self.store.write().await.map_err(host_failure)?;
        let mut checked = Ok(());
        for earlier in self.staged.iter().chain([change]) {
            checked = earlier.apply(&mut tx, self.now).await;
            if checked.is_err() {
                break;
            }
        }
        tx.rollback().await.map_err(host_failure)?;
        checked.map_err(|e| match e {
            CrmError::Store(e) => host_failure(e),
            other => WitCrmError::Invalid(other.to_string()).into(),
        })
    }

    /// Counts a message against the run's cap; `None` once the cap is reached.
    fn take_message_slot(&mut self) -> Option<usize> {
        (self.messages < MAX_MESSAGES_PER_RUN).then(|| {
            self.messages += 1;
            self.messages
        })
    }

    fn may(&mut self, capability: Capability, name: &str) -> bool {
        let granted = self.manifest.capabilities.contains(&capability);
        if !granted {
            self.push_log(
                "error",
                format!("denied: {name} is not among the plugin's capabilities"),
            );
        }
        granted
    }

    async fn notification(&mut self, to: NotifyRecipient, message: String) -> Result<(u64, u64), String> {
        let mut conn = self.store.pool().acquire_quick().await.map_err(|e| e.to_string())?;
        let user_id = match to {
            NotifyRecipient::User(id) => i64::try_from(id).map_err(|_| format!("user {id} does not exist"))?,
            NotifyRecipient::SupervisorOf(id) => {
                let id = i64::try_from(id).map_err(|_| format!("user {id} does not exist"))?;
                directory::supervisor_of(&mut conn, id)
                    .await
                    .map_err(|e| e.to_string())?
                    .id
            }
        };
        notifications::check(&mut conn, user_id, &message)
            .await
            .map_err(|e| e.to_string())?;
        self.take_message_slot()
            .ok_or_else(|| format!("a run sends at most {MAX_MESSAGES_PER_RUN} notifications and emails"))?;
        drop(conn);
        let id = self
            .store
            .reserve_id(notifications::SEQUENCE)
            .await
            .map_err(|e| e.to_string())?;
        self.staged.push(StagedChange::Notification(NewNotification {
            id: Some(id),
            user_id,
            author_id: AUTOMATION_USER,
            module: "crm".into(),
            tag: Some(format!("ROBOT|{}", self.run_id.as_deref().unwrap_or_default())),
            message,
            run_id: self.run_id.clone(),
        }));
        Ok((id as u64, user_id as u64))
    }

    async fn email(&mut self, message: WitMessage) -> Result<String, String> {
        if message.to.is_empty() {
            return Err("the message has no recipients".into());
        }
        if message.subject.trim().is_empty() {
            return Err("the subject is empty".into());
        }
        let mut conn = self.store.pool().acquire_quick().await.map_err(|e| e.to_string())?;
        let mut to = Vec::with_capacity(message.to.len());
        for recipient in message.to {
            let address = match recipient {
                EmailRecipient::Address(address) => address,
                EmailRecipient::User(id) => {
                    let id = i64::try_from(id).map_err(|_| format!("user {id} does not exist"))?;
                    let user = directory::active_user(&mut conn, id).await.map_err(|e| e.to_string())?;
                    user.email.ok_or_else(|| format!("user {id} has no email address"))?
                }
            };
            to.push(mailer::check_address(&address).map_err(|e| e.to_string())?);
        }
        let Some(run_id) = self.run_id.clone() else {
            return Err("email can only be sent from a run".into());
        };
        let slot = self
            .take_message_slot()
            .ok_or_else(|| format!("a run sends at most {MAX_MESSAGES_PER_RUN} notifications and emails"))?;
        let id = format!("{run_id}-{slot}");
        self.staged.push(StagedChange::Email(OutgoingEmail {
            id: id.clone(),
            run_id: Some(run_id),
            to,
            subject: message.subject,
            text: message.text,
            html: message.html,
        }));
        Ok(id)
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

fn id_of(r: &WitRef) -> Result<i64, WitCrmError> {
    i64::try_from(r.id).map_err(|_| WitCrmError::Invalid(format!("id {} is out of range", r.id)))
}

fn to_wit_ref(r: ItemRef) -> WitRef {
    WitRef {
        entity_type: r.entity_type.to_string(),
        id: r.id as u64,
    }
}

/// The item as a plugin sees it: the REST shape, so templates and plugins use one set of names.
pub fn to_wit_item(item: &Item) -> WitItem {
    selected_wit_item(item, &[])
}

/// The item with only the selected fields (all when `select` is empty or holds `*`).
fn selected_wit_item(item: &Item, select: &[String]) -> WitItem {
    WitItem {
        ref_: to_wit_ref(item.item_ref),
        category_id: item.category_id.map(|c| c as u64),
        stage_id: item.stage_id.clone(),
        fields: Value::Object(item.to_rest_selected(select)).to_string(),
    }
}

fn crm_error(e: CrmError, item_ref: ItemRef) -> WitCrmError {
    match e {
        CrmError::NotFound(_) => WitCrmError::NotFound(to_wit_ref(item_ref)),
        other => WitCrmError::Invalid(other.to_string()),
    }
}

/// Why a host call did not give the plugin what it asked for.
enum HostError {
    /// The plugin's request was refused; it gets the error and may go on.
    Crm(WitCrmError),
    /// The host's storage failed: not the plugin's fault, so the run traps and the scheduler
    /// records a transient failure.
    Storage(String),
}

impl From<WitCrmError> for HostError {
    fn from(e: WitCrmError) -> Self {
        Self::Crm(e)
    }
}

fn host_failure(e: impl std::fmt::Display) -> HostError {
    HostError::Storage(format!("host storage error: {e}"))
}

fn settle<T>(result: Result<T, HostError>) -> wasmtime::Result<Result<T, WitCrmError>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(HostError::Crm(e)) => Ok(Err(e)),
        Err(HostError::Storage(message)) => Err(wasmtime::Error::msg(message)),
    }
}

fn parse_object(name: &str, json: &str) -> Result<Map<String, Value>, WitCrmError> {
    match serde_json::from_str(json) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(WitCrmError::Invalid(format!("{name} must be a JSON object"))),
    }
}

impl wit::Host for RunState {}

impl crm::Host for RunState {
    async fn get(&mut self, r: WitRef) -> wasmtime::Result<Result<WitItem, WitCrmError>> {
        settle(
            async {
                let entity_type = self.check_read(&r.entity_type)?;
                let item = self
                    .read(ItemRef {
                        entity_type,
                        id: id_of(&r)?,
                    })
                    .await?;
                Ok(to_wit_item(&item))
            }
            .await,
        )
    }

    async fn list(
        &mut self,
        entity_type: String,
        filter: String,
        order: String,
        select: String,
        limit: u32,
    ) -> wasmtime::Result<Result<Vec<WitItem>, WitCrmError>> {
        settle(
            async {
                let et = self.check_read(&entity_type)?;
                let select: Vec<String> = match serde_json::from_str(&select) {
                    Ok(Value::Array(names)) => names.iter().filter_map(|n| n.as_str().map(str::to_string)).collect(),
                    Ok(Value::Object(map)) if map.is_empty() => Vec::new(),
                    _ => return Err(WitCrmError::Invalid("select must be a JSON array of field names".into()).into()),
                };
                let query = ops::ListQuery {
                    filter: parse_object("filter", &filter)?,
                    order: parse_object("order", &order)?,
                    start: 0,
                    limit: i64::from(limit.min(500)),
                };
                let mut conn = self.store.pool().acquire_quick().await.map_err(host_failure)?;
                let (items, _) = ops::list(&mut conn, et, &query).await.map_err(|e| match e {
                    CrmError::Store(e) => host_failure(e),
                    other => WitCrmError::Invalid(other.to_string()).into(),
                })?;
                Ok(items
                    .into_iter()
                    .filter_map(|item| match self.overlay.get(&item.item_ref) {
                        Some(staged) => staged.clone(),
                        None => Some(item),
                    })
                    .map(|item| selected_wit_item(&item, &select))
                    .collect())
            }
            .await,
        )
    }

    async fn create(&mut self, entity_type: String, fields: String) -> wasmtime::Result<Result<WitRef, WitCrmError>> {
        settle(
            async {
                let et = self.check_write(&entity_type)?;
                let mut changes = self.check_fields(et, &fields, Write::Create).await?;
                if et.has_stages() && changes.category_id.is_none() {
                    let mut conn = self.store.pool().acquire_quick().await.map_err(host_failure)?;
                    let category = ops::default_category(&mut conn, et)
                        .await
                        .map_err(|e| WitCrmError::Invalid(e.to_string()))?;
                    changes.category_id = Some(category);
                }
                let id = self.next_id(&et.to_string()).await?;
                let item_ref = ItemRef { entity_type: et, id };
                let item = Item {
                    item_ref,
                    category_id: changes.category_id,
                    stage_id: changes.stage_id.clone(),
                    stage_semantic: None,
                    fields: changes
                        .applied_to(&Map::new())
                        .map_err(|e| WitCrmError::Invalid(e.to_string()))?,
                    created_by: AUTOMATION_USER,
                    created_at: self.now,
                    updated_at: self.now,
                };
                self.overlay.insert(item_ref, Some(item));
                self.staged.push(StagedChange::Create { item_ref, changes });
                Ok(to_wit_ref(item_ref))
            }
            .await,
        )
    }

    async fn update(&mut self, r: WitRef, fields: String) -> wasmtime::Result<Result<(), WitCrmError>> {
        settle(
            async {
                let item = self.writable(&r).await?;
                let changes = self
                    .check_fields(item.item_ref.entity_type, &fields, Write::Update)
                    .await?;
                self.stage_update(item, changes).await
            }
            .await,
        )
    }

    async fn delete(&mut self, r: WitRef) -> wasmtime::Result<Result<(), WitCrmError>> {
        settle(
            async {
                let item = self.writable(&r).await?;
                self.overlay.insert(item.item_ref, None);
                self.staged.push(StagedChange::Delete(item.item_ref));
                Ok(())
            }
            .await,
        )
    }

    async fn move_to_stage(&mut self, r: WitRef, stage_id: String) -> wasmtime::Result<Result<(), WitCrmError>> {
        settle(
            async {
                let item = self.writable(&r).await?;
                let changes = FieldChanges {
                    stage_id: Some(stage_id),
                    ..FieldChanges::default()
                };
                self.stage_update(item, changes).await
            }
            .await,
        )
    }

    async fn add_comment(&mut self, r: WitRef, text: String) -> wasmtime::Result<Result<u64, WitCrmError>> {
        settle(
            async {
                let item = self.writable(&r).await?;
                if text.trim().is_empty() {
                    return Err(WitCrmError::Invalid("comment text is empty".into()).into());
                }
                let id = self.next_id(ops::COMMENT_SEQUENCE).await?;
                self.staged.push(StagedChange::Comment {
                    item_ref: item.item_ref,
                    id,
                    text,
                });
                Ok(id as u64)
            }
            .await,
        )
    }

    async fn add_activity(&mut self, r: WitRef, activity: String) -> wasmtime::Result<Result<u64, WitCrmError>> {
        settle(
            async {
                let item = self.writable(&r).await?;
                let fields = parse_object("activity", &activity)?;
                if fields.keys().any(|k| k.starts_with("OWNER_")) {
                    return Err(WitCrmError::Invalid(
                        "an activity belongs to the item it is added to; leave out OWNER_TYPE_ID and OWNER_ID".into(),
                    )
                    .into());
                }
                let changes = ActivityChanges {
                    owner: Some(item.item_ref),
                    ..ActivityChanges::from_rest(&fields).map_err(|e| WitCrmError::Invalid(e.to_string()))?
                };
                let id = self.next_id(activities::SEQUENCE).await?;
                let change = StagedChange::Activity { id, changes };
                self.dry_run(&change).await?;
                self.staged.push(change);
                Ok(id as u64)
            }
            .await,
        )
    }

    async fn create_task(&mut self, task: String) -> wasmtime::Result<Result<u64, WitCrmError>> {
        settle(
            async {
                if !self.manifest.may_write(TASKS) {
                    return Err(self.deny(format!("write:{TASKS}")).into());
                }
                let fields = parse_object("task", &task)?;
                let changes = TaskChanges::from_rest(&fields).map_err(|e| WitCrmError::Invalid(e.to_string()))?;
                if changes.created_by.is_none() {
                    return Err(WitCrmError::Invalid(
                        "CREATED_BY is required: tasks are created in an employee's name".into(),
                    )
                    .into());
                }
                let id = self.next_id(tasks::SEQUENCE).await?;
                let change = StagedChange::Task { id, changes };
                self.dry_run(&change).await?;
                self.staged.push(change);
                Ok(id as u64)
            }
            .await,
        )
    }

    async fn add_to_exceptions(&mut self, r: WitRef, comment: String) -> wasmtime::Result<Result<u32, WitCrmError>> {
        settle(
            async {
                if !self.manifest.may_write(EXCEPTIONS) {
                    return Err(self.deny(format!("write:{EXCEPTIONS}")).into());
                }
                let entity_type = self.check_read(&r.entity_type)?;
                let item_ref = ItemRef {
                    entity_type,
                    id: id_of(&r)?,
                };
                let mut values = self.client_values(item_ref).await?;
                let mut conn = self.store.pool().acquire_quick().await.map_err(host_failure)?;
                let listed = repeat::listed(&mut conn, &values).await.map_err(host_failure)?;
                let staged: Vec<&Comparable> = self
                    .staged
                    .iter()
                    .filter_map(|c| match c {
                        StagedChange::Exceptions(new) => Some(&new.values),
                        _ => None,
                    })
                    .flatten()
                    .collect();
                values.retain(|v| !listed.contains(v) && !staged.contains(&v));
                let added = values.len() as u32;
                if !values.is_empty() {
                    self.staged.push(StagedChange::Exceptions(NewExceptions {
                        values,
                        comment,
                        added_by: AUTOMATION_USER,
                        run_id: self.run_id.clone(),
                        item: Some(item_ref),
                    }));
                }
                Ok(added)
            }
            .await,
        )
    }
}

impl wit_directory::Host for RunState {
    async fn absent(&mut self, users: Vec<u64>) -> wasmtime::Result<Result<Vec<u64>, WitCrmError>> {
        settle(
            async {
                if !self.manifest.may_read(USERS) {
                    return Err(self.deny(format!("read:{USERS}")).into());
                }
                let users = user_ids(users);
                let mut conn = self.store.pool().acquire_quick().await.map_err(host_failure)?;
                let absent = directory::absent_at(&mut conn, &users, self.now)
                    .await
                    .map_err(host_failure)?;
                Ok(absent.into_iter().map(|u| u as u64).collect())
            }
            .await,
        )
    }

    async fn next_in_turn(
        &mut self,
        users: Vec<u64>,
        skipping: Vec<u64>,
    ) -> wasmtime::Result<Result<Option<u64>, WitCrmError>> {
        settle(
            async {
                if !self.manifest.may_read(USERS) {
                    return Err(self.deny(format!("read:{USERS}")).into());
                }
                let Some(robot_id) = self.robot_id.clone() else {
                    return Err(WitCrmError::Invalid("only a robot's run has a turn to take".into()).into());
                };
                let users = user_ids(users);
                let skipping = user_ids(skipping);
                let mut tx = self.store.write_unsynced().await.map_err(host_failure)?;
                let next = directory::take_turn(&mut tx, &robot_id, &users, &skipping)
                    .await
                    .map_err(host_failure)?;
                tx.commit().await.map_err(host_failure)?;
                Ok(next.map(|u| u as u64))
            }
            .await,
        )
    }
}

/// Users' ids as the store keeps them; an id too large to be one names no user.
fn user_ids(users: Vec<u64>) -> Vec<i64> {
    users.into_iter().filter_map(|u| i64::try_from(u).ok()).collect()
}

impl notify::Host for RunState {
    async fn send(
        &mut self,
        to: NotifyRecipient,
        message: String,
    ) -> wasmtime::Result<Result<(u64, u64), NotifyError>> {
        if !self.may(Capability::Notify, "notify") {
            return Ok(Err(NotifyError::Denied));
        }
        Ok(self.notification(to, message).await.map_err(NotifyError::Invalid))
    }
}

impl email::Host for RunState {
    async fn queue(&mut self, message: WitMessage) -> wasmtime::Result<Result<String, EmailError>> {
        if !self.may(Capability::Email, "email") {
            return Ok(Err(EmailError::Denied));
        }
        Ok(self.email(message).await.map_err(EmailError::Invalid))
    }
}

impl flow::Host for RunState {
    async fn wait(&mut self, until_ms: u64, wake_on: Vec<WakeOn>) -> wasmtime::Result<()> {
        let mut kinds: Vec<String> = wake_on
            .into_iter()
            .map(|w| {
                match w {
                    WakeOn::Activity => "activity",
                    WakeOn::Comment => "comment",
                    WakeOn::Task => "task",
                    WakeOn::Change => "change",
                }
                .to_string()
            })
            .collect();
        kinds.sort();
        kinds.dedup();
        self.wait = Some(Wait {
            until: Millis::try_from(until_ms).unwrap_or(Millis::MAX),
            wake_on: kinds,
        });
        Ok(())
    }
}

impl log::Host for RunState {
    async fn write(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        self.push_log(level, message);
        Ok(())
    }
}
