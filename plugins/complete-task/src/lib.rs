//! Built-in action "complete-task": completes the item's open tasks when it reaches a stage
//! (Bitrix24's "Complete task"), all of them or only those a given robot created, as when the
//! work a robot handed out is over once the deal is won.

use serde::Deserialize;
use stagewright_sdk::{Action, ActionError, Capability, Context, Level, Manifest, Value, json};

/// The robot's configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Only the tasks this robot (a "create task" robot, `r_…`) created; all open tasks when
    /// absent.
    #[serde(default)]
    created_by_robot: Option<String>,
}

/// Completes the item's open tasks.
pub struct CompleteTask;

impl Action for CompleteTask {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "complete-task",
            "Complete task",
            env!("CARGO_PKG_VERSION"),
            "Completes the item's open tasks, or only those a given robot created.",
        )
        .read_every_item_type()
        .capability(Capability::Write("task".into()))
        .config_schema(json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "created_by_robot": {"type": "string", "pattern": "^r_[0-9a-f]+$", "title": "Only tasks of robot", "description": "The id of the robot (r_…) whose tasks to complete, such as a \"Create task\" robot of an earlier stage; leave empty to complete all the item's open tasks."}
            }
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {"completed": {"type": "integer", "title": "Tasks completed", "description": "How many open tasks were completed."}}
        }))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let item = &ctx.item().ref_;
        let robot = config.created_by_robot.as_deref().filter(|r| !r.is_empty());
        let completed = ctx.complete_tasks(item, robot)?;
        let whose = robot.map_or_else(String::new, |r| format!(" made by robot {r}"));
        ctx.log(
            Level::Info,
            &format!(
                "{completed} open tasks{whose} of {} {} completed",
                item.entity_type, item.id
            ),
        );
        Ok(json!({"completed": completed}))
    }
}

stagewright_sdk::export_action!(CompleteTask);
