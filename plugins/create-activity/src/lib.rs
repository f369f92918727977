//! Built-in action "create-activity": schedules a call, a meeting or a to-do on the item's
//! timeline for an employee, with a deadline ("schedule a call with the client tomorrow").

use serde::Deserialize;
use stagewright_sdk::time::{self, Span};
use stagewright_sdk::{Action, ActionError, Context, Level, Manifest, Value, id_from, json};

/// The robot's configuration; strings may hold templates, resolved before the run.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// call, meeting or todo.
    #[serde(rename = "type")]
    kind: String,
    /// What it is about.
    subject: String,
    /// Details.
    #[serde(default)]
    description: Option<String>,
    /// Who does it; the item's responsible when left out.
    #[serde(default)]
    responsible_id: Option<Value>,
    /// The deadline as a date or date and time.
    #[serde(default)]
    deadline: Option<String>,
    /// A deadline this long after the robot runs (one day when neither is set).
    #[serde(default)]
    deadline_after: Option<Span>,
}

/// The deadline when the robot sets none.
const ONE_DAY_MS: u64 = 86_400_000;

/// Schedules one activity.
pub struct CreateActivity;

fn type_id(kind: &str) -> Result<u32, ActionError> {
    match kind {
        "meeting" => Ok(1),
        "call" => Ok(2),
        "todo" => Ok(6),
        other => Err(ActionError::InvalidConfig(format!(
            "type {other} is not call, meeting or todo"
        ))),
    }
}

impl Action for CreateActivity {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "create-activity",
            "Schedule an activity",
            env!("CARGO_PKG_VERSION"),
            "Schedules a call, a meeting or a to-do on the item's timeline for an employee.",
        )
        .config_schema(json!({
            "type": "object",
            "required": ["type", "subject"],
            "additionalProperties": false,
            "properties": {
                "type": {"type": "string", "enum": ["call", "meeting", "todo"], "title": "Type"},
                "subject": {"type": "string", "minLength": 1, "title": "Subject", "description": "What it is about; templates allowed."},
                "description": {"type": "string", "title": "Description", "description": "Details; templates allowed."},
                "responsible_id": {"type": ["integer", "string"], "title": "Responsible", "description": "A user id or template; the item's responsible when left out."},
                "deadline": {"type": "string", "title": "Deadline", "description": "A date or date and time, e.g. {=Document:CLOSEDATE}."},
                "deadline_after": Span::schema("Deadline after", "A deadline this long after the robot runs; one day when no deadline is set.")
            },
            "not": {"required": ["deadline", "deadline_after"]}
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {"activity_id": {"type": "integer", "title": "Activity id"}}
        }))
        .write_every_item_type()
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let type_id = type_id(&config.kind)?;
        let responsible = match config.responsible_id {
            Some(value) => value,
            None => ctx
                .field("ASSIGNED_BY_ID")
                .cloned()
                .ok_or_else(|| ActionError::Failed("the item has no responsible".into()))?,
        };
        let responsible = id_from(&responsible, "responsible_id")?;
        let deadline = time::deadline(config.deadline, config.deadline_after.as_ref(), ctx.now_ms())?
            .unwrap_or_else(|| time::iso8601_utc(ctx.now_ms().saturating_add(ONE_DAY_MS)));
        let activity_id = ctx.add_activity(
            &ctx.item().ref_,
            &json!({
                "TYPE_ID": type_id,
                "SUBJECT": config.subject,
                "DESCRIPTION": config.description.unwrap_or_default(),
                "RESPONSIBLE_ID": responsible,
                "START_TIME": time::iso8601_utc(ctx.now_ms()),
                "END_TIME": deadline,
                "DEADLINE": deadline,
            }),
        )?;
        ctx.log(
            Level::Info,
            &format!("scheduled {} {activity_id} for user {responsible}", config.kind),
        );
        Ok(json!({"activity_id": activity_id}))
    }
}

stagewright_sdk::export_action!(CreateActivity);
