//! Configuration as a file: a host's smart processes, pipelines and stages, custom fields,
//! plugins, robots, triggers and settings as one JSON document, so a team can keep its
//! automation in git and move it between servers (`stagewright config export` and `import`).
//!
//! Each entry is known by the key references to it use: a smart process by its entityTypeId, a
//! pipeline by its entity type and id, a stage by its stage id, a custom field by its name, a
//! plugin by its id and version, a robot or trigger by its id. An import keeps those keys, so a
//! stage id (`C3:WON`) means the same stage on both servers and the robots' configs and
//! conditions that name stages need no rewriting.
//!
//! An import applies the file in one transaction, after installing the plugins it carries: the
//! whole file is applied or, on any refusal, none of it. It adds and updates smart processes,
//! pipelines, stages and custom fields and never deletes them, since items live in them; robots,
//! triggers, return rules and segments are the automation the file describes, so those it leaves
//! out are deleted. A
//! section missing from the file is left alone. Importing the same file again changes nothing.

pub mod remote;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::clock::Millis;
use crate::crm::repeat_sales::{self, RepeatSales};
use crate::crm::types::{self, TypeChanges};
use crate::crm::userfields::{self, ListChange, UserFieldChanges};
use crate::crm::{self as pipelines, NewStage, StageChanges};
use crate::model::userfield::{UserField, UserType};
use crate::model::{CrmError, EntityType};
use crate::returns::{self, ReturnRule};
use crate::rules::calendar::{self, Calendar};
use crate::rules::triggers::{self, Trigger, TriggerKind};
use crate::rules::{self, ConditionGroup, Robot, Timing};
use crate::runtime::{Plugin, PluginError, Runtime};
use crate::segments::{self, Segment};
use crate::store::{self, Conn, Store, Tx};

/// The `format` of the files this host writes and reads.
pub const FORMAT: &str = "stagewright-config/1";

/// The user an import acts as where the CRM records who made a change (the first admin).
const IMPORTING_USER: i64 = 1;

/// A host's configuration. Every section is optional on import: one left out is left alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// "stagewright-config/1".
    pub format: String,
    /// Smart-process types.
    pub smart_processes: Option<Vec<SmartProcessConfig>>,
    /// Pipelines with their stages, of leads (the one list of statuses), deals and smart processes.
    pub pipelines: Option<Vec<PipelineConfig>>,
    /// Custom fields (`UF_CRM_*`).
    pub custom_fields: Option<Vec<CustomFieldConfig>>,
    /// Installed plugin versions; those not built in carry their component.
    pub plugins: Option<Vec<PluginConfig>>,
    /// Every robot; an import deletes those left out.
    pub robots: Option<Vec<RobotConfig>>,
    /// Every trigger; an import deletes those left out.
    pub triggers: Option<Vec<TriggerConfig>>,
    /// The business calendar and the repeat-sales mode.
    pub settings: Option<SettingsConfig>,
    /// Repeat-deal rules and reactivation policies; an import deletes those left out.
    pub return_rules: Option<Vec<ReturnRule>>,
    /// Repeat-sales segments; an import deletes those left out.
    pub segments: Option<Vec<Segment>>,
}

/// A smart-process type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmartProcessConfig {
    /// Its entityTypeId (128 and up); its items' entity type is `dynamic_{id}`.
    pub entity_type_id: i64,
    /// Its display name.
    pub title: String,
    /// Bitrix24's feature switches (`isCategoriesEnabled`, ...).
    #[schema(value_type = Object)]
    pub settings: Map<String, Value>,
}

/// A pipeline and its stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// "lead", "deal", "dynamic_128".
    pub entity_type: String,
    /// Its id within the entity type; the default deal pipeline and the lead statuses are 0.
    pub id: i64,
    /// Its display name.
    pub name: String,
    /// Its position among the type's pipelines.
    pub sort: i64,
    /// Whether new items land in it; informative, an import does not move the default.
    #[serde(default)]
    pub is_default: bool,
    /// Its stages, in order.
    pub stages: Vec<StageConfig>,
}

/// A stage of a pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Its stage id, with the pipeline's prefix ("C3:WON").
    pub status_id: String,
    /// Its display name.
    pub name: String,
    /// Its position.
    pub sort: i64,
    /// "P" in progress, "S" success, "F" failure; fixed once the stage exists.
    pub semantics: String,
    /// Its colour ("#39A8EF").
    pub color: Option<String>,
}

/// A custom field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomFieldConfig {
    /// The entity type it belongs to.
    pub entity_type: String,
    /// `UF_CRM_...`.
    pub field_name: String,
    /// Bitrix24's USER_TYPE_ID ("string", "enumeration", ...); fixed once the field exists.
    pub user_type: String,
    /// Whether it holds a list of values; fixed once the field exists.
    pub multiple: bool,
    /// Whether every item must have a value.
    pub mandatory: bool,
    /// Its position.
    pub sort: i64,
    /// An external code.
    pub xml_id: Option<String>,
    /// Its label.
    pub label: String,
    /// Type-specific settings.
    #[schema(value_type = Object)]
    pub settings: Value,
    /// An enumeration's choices, known by their text; an import adds missing ones and deletes none.
    #[serde(default)]
    pub list: Vec<ListItemConfig>,
}

/// A choice of an enumeration field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListItemConfig {
    /// Its text.
    pub value: String,
    /// Its position.
    pub sort: i64,
    /// Whether it is preselected.
    pub def: bool,
    /// An external code.
    pub xml_id: Option<String>,
}

/// An installed plugin version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// Its id.
    pub id: String,
    /// Its version.
    pub version: String,
    /// SHA-256 of its component, hex.
    pub sha256: String,
    /// Whether it ships with the host; a built-in one carries no component, since every host has
    /// its own build.
    pub builtin: bool,
    /// The component, base64, for a plugin not built in.
    pub component: Option<String>,
}

/// A robot, as the admin API shows it less what the server decides (pipeline, creation time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RobotConfig {
    /// Its id ("r_" and 16 hex digits).
    pub id: String,
    /// The entity type whose stage it is attached to.
    pub entity_type: String,
    /// The stage.
    pub stage_id: String,
    /// Its name.
    pub name: String,
    /// The plugin it runs.
    pub plugin_id: String,
    /// A semver requirement on the plugin's version.
    pub plugin_version: Option<String>,
    /// The plugin's config, templates unresolved.
    #[schema(value_type = Object)]
    pub config: Value,
    /// When it runs.
    pub timing: Timing,
    /// What must hold for it to run.
    pub condition: Option<ConditionGroup>,
    /// Whether it waits for the robot before it.
    pub after_previous: bool,
    /// Its position among the stage's robots.
    pub sort: i64,
}

/// A trigger, less what the server decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerConfig {
    /// Its id ("t_" and 16 hex digits).
    pub id: String,
    /// The entity type whose pipeline it is in.
    pub entity_type: String,
    /// The stage it moves items to.
    pub stage_id: String,
    /// Its name.
    pub name: String,
    /// What it waits for.
    pub trigger: TriggerKind,
    /// What must hold for it to move the item.
    pub condition: Option<ConditionGroup>,
    /// Whether it may move an item back.
    pub allow_backwards: bool,
    /// Its position among the stage's triggers.
    pub sort: i64,
}

/// Host-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsConfig {
    /// Working days and hours.
    pub calendar: Calendar,
    /// Whether repeat leads and deals are marked, and simple-CRM mode.
    pub repeat_sales: RepeatSales,
}

/// What an import did, or would do on a dry run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    /// Whether nothing was changed because it was a dry run.
    pub dry_run: bool,
    /// Each entry added, changed or deleted, in the order applied.
    pub changes: Vec<ConfigChange>,
    /// How many entries of the file were already as it says.
    pub unchanged: usize,
}

/// One entry an import added, changed or deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConfigChange {
    /// "added", "updated" or "deleted".
    pub action: ChangeAction,
    /// "smart process", "pipeline", "stage", "custom field", "plugin", "robot", "trigger",
    /// "settings".
    pub kind: String,
    /// Its key: "deal 3", "C3:WON", "UF_CRM_SOURCE", "r_0123456789abcdef", ...
    pub key: String,
    /// Its name, for people.
    pub name: String,
}

/// What an import did to an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    /// It was not there.
    Added,
    /// It was there, different.
    Updated,
    /// It was there and the file leaves it out.
    Deleted,
}

/// Why an import was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Something in the file cannot be applied.
    #[error(transparent)]
    Crm(#[from] CrmError),
    /// A plugin in the file does not install.
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

impl From<store::StoreError> for ConfigError {
    fn from(e: store::StoreError) -> Self {
        Self::Crm(e.into())
    }
}

/// Names the entry an error is about, so an admin can find it in the file.
fn about(what: impl std::fmt::Display) -> impl FnOnce(CrmError) -> CrmError {
    move |e| match e {
        CrmError::Invalid(why) => CrmError::Invalid(format!("{what}: {why}")),
        CrmError::NotFound(thing) => CrmError::Invalid(format!("{what}: {thing} not found")),
        other => other,
    }
}

/// The host's configuration as it is now; with `components`, plugins not built in carry their
/// component, as a file for another server needs.
pub async fn export(conn: &mut Conn, components: bool) -> Result<ConfigFile, CrmError> {
    let smart_processes = types::list(conn)
        .await?
        .into_iter()
        .map(|t| SmartProcessConfig {
            entity_type_id: t.entity_type.type_id(),
            title: t.title,
            settings: t.settings,
        })
        .collect();
    let entity_types = entity_types(conn).await?;
    let mut pipelines = Vec::new();
    let mut custom_fields = Vec::new();
    for &entity_type in &entity_types {
        if entity_type.has_stages() {
            for category in pipelines::categories(conn, entity_type).await? {
                let stages = pipelines::stages(conn, entity_type, category.id).await?;
                pipelines.push(PipelineConfig {
                    entity_type: entity_type.to_string(),
                    id: category.id,
                    name: category.name,
                    sort: category.sort,
                    is_default: category.is_default,
                    stages: stages.into_iter().map(stage_config).collect(),
                });
            }
        }
        let fields = userfields::userfields(conn, entity_type).await?;
        custom_fields.extend(fields.into_iter().map(|f| field_config(entity_type, f)));
    }
    let robots = rules::list(conn, None, None)
        .await?
        .into_iter()
        .map(robot_config)
        .collect();
    let triggers = triggers::list(conn, None, None)
        .await?
        .into_iter()
        .map(trigger_config)
        .collect();
    Ok(ConfigFile {
        format: FORMAT.into(),
        smart_processes: Some(smart_processes),
        pipelines: Some(pipelines),
        custom_fields: Some(custom_fields),
        plugins: Some(installed_plugins(conn, components).await?),
        robots: Some(robots),
        triggers: Some(triggers),
        settings: Some(SettingsConfig {
            calendar: calendar::load(conn).await?,
            repeat_sales: repeat_sales::load(conn).await?,
        }),
        return_rules: Some(returns::rules(conn).await?),
        segments: Some(segments::list(conn).await?),
    })
}

/// Leads, deals, contacts, companies and every smart process, in that order.
async fn entity_types(conn: &mut Conn) -> Result<Vec<EntityType>, CrmError> {
    let mut all = vec![
        EntityType::Lead,
        EntityType::Deal,
        EntityType::Contact,
        EntityType::Company,
    ];
    all.extend(types::list(conn).await?.into_iter().map(|t| t.entity_type));
    Ok(all)
}

fn stage_config(stage: pipelines::Stage) -> StageConfig {
    StageConfig {
        status_id: stage.status_id,
        name: stage.name,
        sort: stage.sort,
        semantics: stage.semantics,
        color: stage.color,
    }
}

fn field_config(entity_type: EntityType, field: UserField) -> CustomFieldConfig {
    CustomFieldConfig {
        entity_type: entity_type.to_string(),
        field_name: field.field_name,
        user_type: field.user_type.as_str().into(),
        multiple: field.multiple,
        mandatory: field.mandatory,
        sort: field.sort,
        xml_id: field.xml_id,
        label: field.label,
        settings: field.settings,
        list: field
            .list
            .into_iter()
            .map(|item| ListItemConfig {
                value: item.value,
                sort: item.sort,
                def: item.def,
                xml_id: item.xml_id,
            })
            .collect(),
    }
}

fn robot_config(robot: Robot) -> RobotConfig {
    RobotConfig {
        id: robot.id,
        entity_type: robot.entity_type,
        stage_id: robot.stage_id,
        name: robot.name,
        plugin_id: robot.plugin_id,
        plugin_version: robot.plugin_version,
        config: robot.config,
        timing: robot.timing,
        condition: robot.condition,
        after_previous: robot.after_previous,
        sort: robot.sort,
    }
}

fn trigger_config(trigger: Trigger) -> TriggerConfig {
    TriggerConfig {
        id: trigger.id,
        entity_type: trigger.entity_type,
        stage_id: trigger.stage_id,
        name: trigger.name,
        trigger: trigger.trigger,
        condition: trigger.condition,
        allow_backwards: trigger.allow_backwards,
        sort: trigger.sort,
    }
}

/// Every installed plugin version by id and version, with the components of those not built in
/// when asked.
async fn installed_plugins(conn: &mut Conn, components: bool) -> Result<Vec<PluginConfig>, CrmError> {
    let rows = store::query("SELECT id, version, sha256, builtin FROM plugins ORDER BY id, version")
        .fetch_all(&mut *conn)
        .await?;
    let mut plugins = Vec::with_capacity(rows.len());
    for row in rows {
        let mut plugin = PluginConfig {
            id: row.try_get("id")?,
            version: row.try_get("version")?,
            sha256: row.try_get("sha256")?,
            builtin: row.try_get::<i64, _>("builtin")? != 0,
            component: None,
        };
        if components && !plugin.builtin {
            let wasm: Vec<u8> = store::query_scalar("SELECT wasm FROM plugins WHERE id = $1 AND version = $2")
                .bind(&plugin.id)
                .bind(&plugin.version)
                .fetch_one(&mut *conn)
                .await?;
            plugin.component = Some(base64::engine::general_purpose::STANDARD.encode(wasm));
        }
        plugins.push(plugin);
    }
    Ok(plugins)
}

/// The changes an import is making, and how many entries it found as they should be.
#[derive(Default)]
struct Changes {
    report: Vec<ConfigChange>,
    unchanged: usize,
}

impl Changes {
    fn record(&mut self, action: ChangeAction, kind: &str, key: impl Into<String>, name: &str) {
        self.report.push(ConfigChange {
            action,
            kind: kind.into(),
            key: key.into(),
            name: name.into(),
        });
    }

    /// Records an entry that was there: changed when `same` is false, else unchanged.
    fn kept(&mut self, same: bool, kind: &str, key: impl Into<String>, name: &str) {
        if same {
            self.unchanged += 1;
        } else {
            self.record(ChangeAction::Updated, kind, key, name);
        }
    }
}

/// Applies a configuration file. A dry run checks and reports everything, installs nothing and
/// changes nothing.
pub async fn import(
    store: &Store,
    runtime: &Runtime,
    file: &ConfigFile,
    dry_run: bool,
    now: Millis,
) -> Result<ImportReport, ConfigError> {
    if file.format != FORMAT {
        return Err(CrmError::Invalid(format!("format must be \"{FORMAT}\", not \"{}\"", file.format)).into());
    }
    let mut changes = Changes::default();
    let arriving = arriving_plugins(
        store,
        runtime,
        file.plugins.as_deref().unwrap_or_default(),
        &mut changes,
    )
    .await?;
    if !dry_run {
        for (bytes, _) in &arriving {
            runtime.install(store, bytes, false, now).await?;
        }
    }
    let mut tx = store.write().await?;
    if let Some(smart_processes) = &file.smart_processes {
        apply_smart_processes(&mut tx, smart_processes, now, &mut changes).await?;
    }
    if let Some(pipelines) = &file.pipelines {
        apply_pipelines(&mut tx, pipelines, &mut changes).await?;
    }
    if let Some(fields) = &file.custom_fields {
        apply_custom_fields(&mut tx, fields, &mut changes).await?;
    }
    if let Some(settings) = &file.settings {
        apply_settings(&mut tx, settings, &mut changes).await?;
    }
    if let Some(robots) = &file.robots {
        let plugins = Plugins {
            runtime,
            arriving: &arriving,
        };
        apply_robots(&mut tx, robots, &plugins, now, &mut changes).await?;
    }
    if let Some(triggers) = &file.triggers {
        apply_triggers(&mut tx, triggers, now, &mut changes).await?;
    }
    if let Some(rules) = &file.return_rules {
        apply_return_rules(&mut tx, rules, now, &mut changes).await?;
    }
    if let Some(segments) = &file.segments {
        apply_segments(&mut tx, segments, now, &mut changes).await?;
    }
    if !dry_run {
        tx.commit().await?;
    }
    Ok(ImportReport {
        dry_run,
        changes: changes.report,
        unchanged: changes.unchanged,
    })
}

/// The plugins robots of the file may use: those installed, and those the file brings (on a dry
/// run not installed yet).
struct Plugins<'a> {
    runtime: &'a Runtime,
    arriving: &'a [(Vec<u8>, std::sync::Arc<Plugin>)],
}

impl Plugins<'_> {
    /// The plugin version a robot with this requirement runs.
    fn find(&self, id: &str, requirement: Option<&semver::VersionReq>) -> Option<std::sync::Arc<Plugin>> {
        self.runtime.plugin(id, requirement).or_else(|| {
            self.arriving
                .iter()
                .map(|(_, plugin)| plugin)
                .find(|p| p.manifest.id == id && requirement.is_none_or(|r| fits(r, &p.manifest.version)))
                .cloned()
        })
    }
}

/// Whether a plugin version meets a robot's requirement.
fn fits(requirement: &semver::VersionReq, version: &str) -> bool {
    semver::Version::parse(version).is_ok_and(|v| requirement.matches(&v))
}

/// The plugins of the file that are not installed yet, checked as an install checks them, with
/// their components; a built-in plugin is the host's own and is only counted.
async fn arriving_plugins(
    store: &Store,
    runtime: &Runtime,
    plugins: &[PluginConfig],
    changes: &mut Changes,
) -> Result<Vec<(Vec<u8>, std::sync::Arc<Plugin>)>, ConfigError> {
    let mut conn = store.pool().acquire().await?;
    let installed = installed_plugins(&mut conn, false).await?;
    drop(conn);
    let mut arriving = Vec::new();
    for wanted in plugins {
        let key = format!("{} {}", wanted.id, wanted.version);
        let present = installed
            .iter()
            .find(|p| p.id == wanted.id && p.version == wanted.version);
        match present {
            Some(present) if present.sha256 == wanted.sha256 || wanted.builtin => changes.unchanged += 1,
            Some(_) => {
                return Err(PluginError::VersionConflict {
                    id: wanted.id.clone(),
                    version: wanted.version.clone(),
                }
                .into());
            }
            None if wanted.builtin => changes.unchanged += 1,
            None => {
                let bytes = component_of(wanted).map_err(about(format!("plugin {key}")))?;
                let plugin = runtime.inspect(store, &bytes).await?;
                if plugin.manifest.id != wanted.id || plugin.manifest.version != wanted.version {
                    return Err(CrmError::Invalid(format!(
                        "plugin {key}: its component is {} {}",
                        plugin.manifest.id, plugin.manifest.version
                    ))
                    .into());
                }
                changes.record(ChangeAction::Added, "plugin", key, &wanted.id);
                arriving.push((bytes, std::sync::Arc::new(plugin)));
            }
        }
    }
    Ok(arriving)
}

/// A plugin's component from the file, whose hash must be the one the file gives.
fn component_of(plugin: &PluginConfig) -> Result<Vec<u8>, CrmError> {
    let encoded = plugin
        .component
        .as_deref()
        .ok_or_else(|| CrmError::Invalid("not installed here, and the file carries no component".into()))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| CrmError::Invalid(format!("component is not base64: {e}")))?;
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    if sha256 != plugin.sha256 {
        return Err(CrmError::Invalid(format!(
            "the component's SHA-256 is {sha256}, not {}",
            plugin.sha256
        )));
    }
    Ok(bytes)
}

async fn apply_smart_processes(
    tx: &mut Tx,
    wanted: &[SmartProcessConfig],
    now: Millis,
    changes: &mut Changes,
) -> Result<(), CrmError> {
    for process in wanted {
        let key = format!("dynamic_{}", process.entity_type_id);
        let asked = TypeChanges {
            entity_type_id: Some(process.entity_type_id),
            title: Some(process.title.clone()),
            settings: process.settings.clone(),
        };
        let fail = about(format!("smart process {}", process.entity_type_id));
        let entity_type = EntityType::Dynamic(process.entity_type_id);
        match types::by_entity_type(tx, entity_type).await {
            Ok(current) => {
                let same = current.title == process.title && current.settings == process.settings;
                if !same {
                    types::update(tx, current.id, &asked, IMPORTING_USER, now)
                        .await
                        .map_err(fail)?;
                }
                changes.kept(same, "smart process", key, &process.title);
            }
            Err(CrmError::NotFound(_)) => {
                types::add(tx, &asked, IMPORTING_USER, now).await.map_err(fail)?;
                changes.record(ChangeAction::Added, "smart process", key, &process.title);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn apply_pipelines(tx: &mut Tx, wanted: &[PipelineConfig], changes: &mut Changes) -> Result<(), CrmError> {
    for pipeline in wanted {
        let key = format!("{} {}", pipeline.entity_type, pipeline.id);
        let fail = || about(format!("pipeline {key}"));
        let entity_type = EntityType::parse(&pipeline.entity_type).map_err(fail())?;
        let fresh = match pipelines::category(tx, entity_type, pipeline.id).await {
            Ok(current) => {
                let same = current.name == pipeline.name && current.sort == pipeline.sort;
                if !same {
                    pipelines::update_category(tx, entity_type, pipeline.id, Some(&pipeline.name), Some(pipeline.sort))
                        .await
                        .map_err(fail())?;
                }
                changes.kept(same, "pipeline", &key, &pipeline.name);
                // A pipeline its smart process came with in this import has only the template's stages.
                changes.report.iter().any(|c| {
                    c.kind == "smart process" && c.action == ChangeAction::Added && c.key == pipeline.entity_type
                })
            }
            Err(CrmError::NotFound(_)) => {
                pipelines::insert_category(tx, entity_type, pipeline.id, &pipeline.name, pipeline.sort)
                    .await
                    .map_err(fail())?;
                changes.record(ChangeAction::Added, "pipeline", &key, &pipeline.name);
                true
            }
            Err(e) => return Err(e),
        };
        if fresh {
            let keep: Vec<&str> = pipeline.stages.iter().map(|s| s.status_id.as_str()).collect();
            pipelines::delete_stages_except(tx, entity_type, pipeline.id, &keep).await?;
        }
        for stage in &pipeline.stages {
            apply_stage(tx, entity_type, pipeline.id, stage, changes)
                .await
                .map_err(about(format!("stage {}", stage.status_id)))?;
        }
        pipelines::check_complete(tx, entity_type, pipeline.id)
            .await
            .map_err(fail())?;
    }
    Ok(())
}

async fn apply_stage(
    tx: &mut Tx,
    entity_type: EntityType,
    category_id: i64,
    stage: &StageConfig,
    changes: &mut Changes,
) -> Result<(), CrmError> {
    let Ok(current) = pipelines::stage(tx, entity_type, &stage.status_id).await else {
        let new = NewStage {
            status_id: stage.status_id.clone(),
            name: stage.name.clone(),
            sort: stage.sort,
            semantics: stage.semantics.clone(),
            color: stage.color.clone(),
        };
        let added = pipelines::add_stage(tx, entity_type, category_id, &new).await?;
        if added.status_id != stage.status_id {
            return Err(CrmError::Invalid(format!(
                "a stage of pipeline {category_id} is named {}",
                added.status_id
            )));
        }
        changes.record(ChangeAction::Added, "stage", &stage.status_id, &stage.name);
        return Ok(());
    };
    if current.category_id != category_id {
        return Err(CrmError::Invalid(format!(
            "it belongs to pipeline {}",
            current.category_id
        )));
    }
    if current.semantics != stage.semantics {
        return Err(CrmError::Invalid(format!(
            "its semantics are {} here; a stage's semantics do not change",
            current.semantics
        )));
    }
    let same = current.name == stage.name
        && current.sort == stage.sort
        && (stage.color.is_none() || current.color == stage.color);
    if !same {
        let asked = StageChanges {
            name: Some(stage.name.clone()),
            sort: Some(stage.sort),
            color: stage.color.clone(),
        };
        pipelines::update_stage(tx, current.id, &asked).await?;
    }
    changes.kept(same, "stage", &stage.status_id, &stage.name);
    Ok(())
}

async fn apply_custom_fields(tx: &mut Tx, wanted: &[CustomFieldConfig], changes: &mut Changes) -> Result<(), CrmError> {
    for field in wanted {
        let key = format!("{} {}", field.entity_type, field.field_name);
        let fail = || about(format!("custom field {key}"));
        let entity_type = EntityType::parse(&field.entity_type).map_err(fail())?;
        let user_type = UserType::parse(&field.user_type).map_err(fail())?;
        let current = userfields::userfields(tx, entity_type)
            .await?
            .into_iter()
            .find(|f| f.field_name == field.field_name);
        let mut asked = UserFieldChanges {
            field_name: Some(field.field_name.clone()),
            user_type: Some(user_type),
            multiple: Some(field.multiple),
            mandatory: Some(field.mandatory),
            sort: Some(field.sort),
            xml_id: field.xml_id.clone(),
            label: Some(field.label.clone()),
            settings: Some(field.settings.clone()),
            list: Vec::new(),
        };
        match current {
            None => {
                asked.list = field.list.iter().map(|item| list_change(None, item)).collect();
                userfields::add(tx, entity_type, &asked).await.map_err(fail())?;
                changes.record(ChangeAction::Added, "custom field", key, &field.label);
            }
            Some(current) => {
                if current.user_type != user_type || current.multiple != field.multiple {
                    return Err(fail()(CrmError::Invalid(format!(
                        "it is a {}{} field here; a field's type does not change",
                        if current.multiple { "multiple " } else { "" },
                        current.user_type.as_str()
                    ))));
                }
                asked.list = field
                    .list
                    .iter()
                    .filter_map(|item| {
                        let existing = current.list.iter().find(|c| c.value == item.value);
                        let same = existing
                            .is_some_and(|c| c.sort == item.sort && c.def == item.def && c.xml_id == item.xml_id);
                        (!same).then(|| list_change(existing.map(|c| c.id), item))
                    })
                    .collect();
                let exported = field_config(entity_type, current.clone());
                let same = asked.list.is_empty()
                    && CustomFieldConfig {
                        list: field.list.clone(),
                        ..exported
                    } == *field;
                if !same {
                    userfields::update(tx, entity_type, current.id, &asked)
                        .await
                        .map_err(fail())?;
                }
                changes.kept(same, "custom field", key, &field.label);
            }
        }
    }
    Ok(())
}

fn list_change(id: Option<i64>, item: &ListItemConfig) -> ListChange {
    ListChange {
        id,
        value: Some(item.value.clone()),
        sort: Some(item.sort),
        def: Some(item.def),
        xml_id: item.xml_id.clone(),
        delete: false,
    }
}

async fn apply_settings(tx: &mut Tx, wanted: &SettingsConfig, changes: &mut Changes) -> Result<(), CrmError> {
    let same_calendar = calendar::load(tx).await? == wanted.calendar;
    if !same_calendar {
        calendar::save(tx, &wanted.calendar)
            .await
            .map_err(about("settings calendar"))?;
    }
    changes.kept(same_calendar, "settings", "calendar", "business calendar");
    let same_mode = repeat_sales::load(tx).await? == wanted.repeat_sales;
    if !same_mode {
        repeat_sales::save(tx, &wanted.repeat_sales)
            .await
            .map_err(about("settings repeat_sales"))?;
    }
    changes.kept(same_mode, "settings", "repeat_sales", "repeat-sales mode");
    Ok(())
}

async fn apply_robots(
    tx: &mut Tx,
    wanted: &[RobotConfig],
    plugins: &Plugins<'_>,
    now: Millis,
    changes: &mut Changes,
) -> Result<(), CrmError> {
    let current = rules::list(tx, None, None).await?;
    for robot in wanted {
        let fail = || about(format!("robot {}", robot.id));
        check_id(&robot.id).map_err(fail())?;
        let requirement = rules::version_requirement(robot.plugin_version.as_deref()).map_err(fail())?;
        let found = plugins.find(&robot.plugin_id, requirement.as_ref()).ok_or_else(|| {
            fail()(CrmError::Invalid(format!(
                "no installed version of plugin {} fits",
                robot.plugin_id
            )))
        })?;
        found
            .manifest
            .check_config(&robot.config)
            .map_err(|e| fail()(CrmError::Invalid(e)))?;
        let existing = current.iter().find(|r| r.id == robot.id);
        if existing.is_some_and(|r| robot_config(r.clone()) == *robot) {
            changes.unchanged += 1;
            continue;
        }
        let mut stored = Robot {
            id: robot.id.clone(),
            entity_type: robot.entity_type.clone(),
            category_id: 0,
            stage_id: robot.stage_id.clone(),
            name: robot.name.clone(),
            plugin_id: robot.plugin_id.clone(),
            plugin_version: robot.plugin_version.clone(),
            config: robot.config.clone(),
            timing: robot.timing.clone(),
            condition: robot.condition.clone(),
            after_previous: robot.after_previous,
            sort: robot.sort,
            created_at: now,
        };
        rules::put(tx, &mut stored).await.map_err(fail())?;
        let action = if existing.is_some() {
            ChangeAction::Updated
        } else {
            ChangeAction::Added
        };
        changes.record(action, "robot", &robot.id, &robot.name);
    }
    for gone in current.iter().filter(|r| !wanted.iter().any(|w| w.id == r.id)) {
        rules::delete(tx, &gone.id).await?;
        changes.record(ChangeAction::Deleted, "robot", &gone.id, &gone.name);
    }
    Ok(())
}

async fn apply_triggers(
    tx: &mut Tx,
    wanted: &[TriggerConfig],
    now: Millis,
    changes: &mut Changes,
) -> Result<(), CrmError> {
    let current = triggers::list(tx, None, None).await?;
    for trigger in wanted {
        let fail = || about(format!("trigger {}", trigger.id));
        check_id(&trigger.id).map_err(fail())?;
        let existing = current.iter().find(|t| t.id == trigger.id);
        if existing.is_some_and(|t| trigger_config(t.clone()) == *trigger) {
            changes.unchanged += 1;
            continue;
        }
        let mut stored = Trigger {
            id: trigger.id.clone(),
            entity_type: trigger.entity_type.clone(),
            category_id: 0,
            stage_id: trigger.stage_id.clone(),
            name: trigger.name.clone(),
            trigger: trigger.trigger.clone(),
            condition: trigger.condition.clone(),
            allow_backwards: trigger.allow_backwards,
            sort: trigger.sort,
            created_at: now,
        };
        triggers::put(tx, &mut stored).await.map_err(fail())?;
        let action = if existing.is_some() {
            ChangeAction::Updated
        } else {
            ChangeAction::Added
        };
        changes.record(action, "trigger", &trigger.id, &trigger.name);
    }
    for gone in current.iter().filter(|t| !wanted.iter().any(|w| w.id == t.id)) {
        triggers::delete(tx, &gone.id).await?;
        changes.record(ChangeAction::Deleted, "trigger", &gone.id, &gone.name);
    }
    Ok(())
}

async fn apply_return_rules(
    tx: &mut Tx,
    wanted: &[ReturnRule],
    now: Millis,
    changes: &mut Changes,
) -> Result<(), CrmError> {
    let current = returns::rules(tx).await?;
    for rule in wanted {
        let key = rule.id.to_string();
        let existing = current.iter().find(|r| r.id == rule.id);
        if existing == Some(rule) {
            changes.unchanged += 1;
            continue;
        }
        let stored = if rule.id > 0 {
            returns::put_rule(tx, rule.clone(), now).await
        } else {
            returns::add_rule(tx, rule.clone(), now).await
        };
        let stored = stored.map_err(about(format!("return rule {key}")))?;
        let action = if existing.is_some() {
            ChangeAction::Updated
        } else {
            ChangeAction::Added
        };
        changes.record(action, "return rule", stored.id.to_string(), &stored.stage_id);
    }
    for gone in current.iter().filter(|r| !wanted.iter().any(|w| w.id == r.id)) {
        returns::delete_rule(tx, gone.id).await?;
        changes.record(
            ChangeAction::Deleted,
            "return rule",
            gone.id.to_string(),
            &gone.stage_id,
        );
    }
    Ok(())
}

async fn apply_segments(tx: &mut Tx, wanted: &[Segment], now: Millis, changes: &mut Changes) -> Result<(), CrmError> {
    let current = segments::list(tx).await?;
    for segment in wanted {
        let key = segment.id.to_string();
        let existing = current.iter().find(|s| s.id == segment.id);
        if existing == Some(segment) {
            changes.unchanged += 1;
            continue;
        }
        let stored = if segment.id > 0 {
            segments::put(tx, segment.clone(), now).await
        } else {
            segments::add(tx, segment.clone(), now).await
        };
        let stored = stored.map_err(about(format!("segment {key}")))?;
        let action = if existing.is_some() {
            ChangeAction::Updated
        } else {
            ChangeAction::Added
        };
        changes.record(action, "segment", stored.id.to_string(), &stored.name);
    }
    for gone in current.iter().filter(|s| !wanted.iter().any(|w| w.id == s.id)) {
        segments::delete(tx, gone.id).await?;
        changes.record(ChangeAction::Deleted, "segment", gone.id.to_string(), &gone.name);
    }
    Ok(())
}

/// A robot's or trigger's id: 1 to 64 letters, digits, `_` or `-`.
fn check_id(id: &str) -> Result<(), CrmError> {
    let fine = (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if fine {
        Ok(())
    } else {
        Err(CrmError::Invalid("an id is 1 to 64 letters, digits, _ or -".into()))
    }
}
