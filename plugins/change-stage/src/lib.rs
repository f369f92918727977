//! Built-in action "change-stage": moves the item to another stage of its pipeline.

use serde::Deserialize;
use stagewright_sdk::{Action, ActionError, Capability, Context, Level, Manifest, Value, json};

/// The robot's configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The stage to move to, as Bitrix24 names it ("WON", "C2:PREPARATION").
    stage_id: String,
}

/// Moves the item; the move runs the target stage's robots.
pub struct ChangeStage;

impl Action for ChangeStage {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "change-stage",
            "Change stage",
            env!("CARGO_PKG_VERSION"),
            "Moves the item to another stage of its pipeline.",
        )
        .config_schema(json!({
            "type": "object",
            "required": ["stage_id"],
            "additionalProperties": false,
            "properties": {
                "stage_id": {"type": "string", "title": "Stage", "description": "The stage to move the item to."}
            }
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {"previous_stage_id": {"type": "string"}}
        }))
        .capability(Capability::Write("deal".into()))
        .capability(Capability::Write("lead".into()))
        .capability(Capability::Write("dynamic_*".into()))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let item = ctx.item();
        let previous = item.stage_id.clone().unwrap_or_default();
        if previous == config.stage_id {
            ctx.log(Level::Info, "item is already in the target stage");
            return Ok(json!({"previous_stage_id": previous}));
        }
        ctx.move_to_stage(&item.ref_, &config.stage_id)?;
        ctx.log(Level::Info, &format!("moved from {previous} to {}", config.stage_id));
        Ok(json!({"previous_stage_id": previous}))
    }
}

stagewright_sdk::export_action!(ChangeStage);
