//! Built-in action "create-task": creates an employee's task bound to the item, e.g. "call the
//! client back" when a deal enters negotiation.

use serde::Deserialize;
use stagewright_sdk::time::{self, Span};
use stagewright_sdk::{Action, ActionError, Capability, Context, Level, Manifest, Value, crm_binding, id_from, json};

/// The robot's configuration; strings may hold templates, resolved before the run.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// What is to be done.
    title: String,
    /// Details.
    #[serde(default)]
    description: Option<String>,
    /// Who does it; the item's responsible when left out.
    #[serde(default)]
    responsible_id: Option<Value>,
    /// In whose name it is set; the item's responsible when left out.
    #[serde(default)]
    created_by: Option<Value>,
    /// A deadline as a date or date and time (often a template such as `{=Document:CLOSEDATE}`).
    #[serde(default)]
    deadline: Option<String>,
    /// A deadline this long after the robot runs.
    #[serde(default)]
    deadline_after: Option<Span>,
    /// High priority.
    #[serde(default)]
    important: bool,
    /// Users who follow the task (observers): ids or templates.
    #[serde(default)]
    auditors: Vec<Value>,
    /// Users who help the responsible (co-executors): ids or templates.
    #[serde(default)]
    accomplices: Vec<Value>,
}

/// Ids from a list of config values, each a number or its text after templates resolved.
fn ids(values: &[Value], what: &str) -> Result<Vec<u64>, ActionError> {
    values.iter().map(|v| id_from(v, what)).collect()
}

/// Creates one task.
pub struct CreateTask;

impl Action for CreateTask {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "create-task",
            "Create task",
            env!("CARGO_PKG_VERSION"),
            "Creates a task for an employee, bound to the item, with a deadline.",
        )
        .config_schema(json!({
            "type": "object",
            "required": ["title"],
            "additionalProperties": false,
            "properties": {
                "title": {"type": "string", "minLength": 1, "title": "Title", "description": "What is to be done; templates allowed."},
                "description": {"type": "string", "title": "Description", "description": "Details; templates allowed."},
                "responsible_id": {"type": ["integer", "string"], "title": "Responsible", "description": "A user id or template; the item's responsible when left out."},
                "created_by": {"type": ["integer", "string"], "title": "Created by", "description": "In whose name the task is set; the item's responsible when left out."},
                "deadline": {"type": "string", "title": "Deadline", "description": "A date or date and time, e.g. {=Document:CLOSEDATE}."},
                "deadline_after": Span::schema("Deadline after", "A deadline this long after the robot runs."),
                "important": {"type": "boolean", "title": "Important", "description": "High priority."},
                "auditors": {"type": "array", "items": {"type": ["integer", "string"]}, "title": "Observers", "description": "Users who follow the task: ids or templates such as {=Document:ASSIGNED_BY_ID}."},
                "accomplices": {"type": "array", "items": {"type": ["integer", "string"]}, "title": "Co-executors", "description": "Users who help the responsible: ids or templates."}
            },
            "not": {"required": ["deadline", "deadline_after"]}
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {"task_id": {"type": "integer", "title": "Task id"}}
        }))
        .capability(Capability::Write("task".into()))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let responsible_of_item = || {
            ctx.field("ASSIGNED_BY_ID")
                .cloned()
                .ok_or_else(|| ActionError::Failed("the item has no responsible".into()))
        };
        let responsible = id_from(
            &config.responsible_id.map_or_else(responsible_of_item, Ok)?,
            "responsible_id",
        )?;
        let created_by = id_from(&config.created_by.map_or_else(responsible_of_item, Ok)?, "created_by")?;
        let deadline = time::deadline(config.deadline, config.deadline_after.as_ref(), ctx.now_ms())?;
        let auditors = ids(&config.auditors, "auditors")?;
        let accomplices = ids(&config.accomplices, "accomplices")?;
        let task_id = ctx.create_task(&json!({
            "TITLE": config.title,
            "DESCRIPTION": config.description.unwrap_or_default(),
            "RESPONSIBLE_ID": responsible,
            "CREATED_BY": created_by,
            "DEADLINE": deadline,
            "PRIORITY": if config.important { 2 } else { 1 },
            "UF_CRM_TASK": [crm_binding(&ctx.item().ref_)],
            "AUDITORS": auditors,
            "ACCOMPLICES": accomplices,
        }))?;
        ctx.log(Level::Info, &format!("created task {task_id} for user {responsible}"));
        Ok(json!({"task_id": task_id}))
    }
}

stagewright_sdk::export_action!(CreateTask);
