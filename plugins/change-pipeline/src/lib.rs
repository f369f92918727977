//! Built-in action "change-pipeline": moves a deal or smart-process item to another pipeline
//! (Bitrix24's "Change pipeline" robot), into a chosen stage of it or its first. Leaving the
//! pipeline cancels the old stage's pending robots; the new stage's robots run.

use serde::Deserialize;
use stagewright_sdk::{Action, ActionError, Capability, Context, Level, Manifest, Value, json};

/// The robot's configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The pipeline to move to (its CATEGORY_ID; the default pipeline is 0).
    category_id: u64,
    /// The stage of that pipeline to move to ("C2:PREPARATION"); its first when left out.
    #[serde(default)]
    stage_id: Option<String>,
}

/// Moves the item to another pipeline.
pub struct ChangePipeline;

impl Action for ChangePipeline {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "change-pipeline",
            "Change pipeline",
            env!("CARGO_PKG_VERSION"),
            "Moves the item to another pipeline, into a chosen stage or the pipeline's first.",
        )
        .config_schema(json!({
            "type": "object",
            "required": ["category_id"],
            "additionalProperties": false,
            "properties": {
                "category_id": {"type": "integer", "minimum": 0, "title": "Pipeline", "description": "The pipeline to move the item to."},
                "stage_id": {"type": "string", "title": "Stage", "description": "A stage of that pipeline; its first stage when left out."}
            }
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {
                "previous_category_id": {"type": "integer"},
                "previous_stage_id": {"type": "string"}
            }
        }))
        .capability(Capability::Write("deal".into()))
        .capability(Capability::Write("dynamic_*".into()))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let item = ctx.item();
        let previous = json!({
            "previous_category_id": item.category_id,
            "previous_stage_id": item.stage_id,
        });
        if item.category_id == Some(config.category_id) && config.stage_id.is_none() {
            ctx.log(Level::Info, "item is already in the pipeline");
            return Ok(previous);
        }
        let mut fields = json!({"CATEGORY_ID": config.category_id});
        if let Some(stage) = &config.stage_id {
            fields["STAGE_ID"] = json!(stage);
        }
        ctx.update(&item.ref_, &fields)?;
        let to = config.stage_id.as_deref().unwrap_or("its first stage");
        ctx.log(Level::Info, &format!("moved to pipeline {}, {to}", config.category_id));
        Ok(previous)
    }
}

stagewright_sdk::export_action!(ChangePipeline);
