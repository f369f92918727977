//! Built-in action "wait": pauses the stage's chain of robots until something happens to the
//! item (an activity, a comment, a completed task, a changed field) or a span of time passes,
//! whichever comes first. The robots after it that run "after the previous one" go on then, and
//! can tell which it was from its return value `woke_by`.

use serde::Deserialize;
use stagewright_sdk::time::Span;
use stagewright_sdk::{Action, ActionError, Context, Level, Manifest, Value, WakeOn, json};

/// The robot's configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The longest wait.
    #[serde(rename = "for")]
    span: Span,
    /// What ends it early; an activity when left out, nothing but time when empty.
    #[serde(default = "activity")]
    until: Vec<String>,
}

fn activity() -> Vec<String> {
    vec!["activity".into()]
}

/// Parks the chain.
pub struct Wait;

fn wake_on(name: &str) -> Result<WakeOn, ActionError> {
    match name {
        "activity" => Ok(WakeOn::Activity),
        "comment" => Ok(WakeOn::Comment),
        "task" => Ok(WakeOn::Task),
        "change" => Ok(WakeOn::Change),
        other => Err(ActionError::InvalidConfig(format!(
            "until: {other} is not activity, comment, task or change"
        ))),
    }
}

impl Action for Wait {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "wait",
            "Wait",
            env!("CARGO_PKG_VERSION"),
            "Pauses the robots after it until the item gets an activity (or a comment, a completed task, a field change) or the time is up.",
        )
        .config_schema(json!({
            "type": "object",
            "required": ["for"],
            "additionalProperties": false,
            "properties": {
                "for": Span::schema("Wait at most", "How long the chain waits if nothing happens."),
                "until": {
                    "type": "array", "uniqueItems": true,
                    "items": {"enum": ["activity", "comment", "task", "change"]},
                    "title": "Or until",
                    "description": "What ends the wait early: an activity added or completed, a comment, a completed task, a changed field. An activity when left out; only time when empty."
                }
            }
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {
                "woke_by": {"enum": ["activity", "comment", "task", "change", "timeout"], "title": "What ended the wait"},
                "until": {"type": "integer", "title": "When the wait ends at the latest (ms since the epoch)"}
            }
        }))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let wake: Vec<WakeOn> = config
            .until
            .iter()
            .map(|name| wake_on(name))
            .collect::<Result<_, _>>()?;
        let until = ctx
            .now_ms()
            .checked_add(config.span.ms()?)
            .ok_or_else(|| ActionError::InvalidConfig("the wait is too long".into()))?;
        ctx.wait(until, &wake);
        let early = match config.until.is_empty() {
            true => String::new(),
            false => format!(", or until {}", config.until.join(" or ")),
        };
        let span = format!("{} {}", config.span.value, config.span.unit);
        ctx.log(Level::Info, &format!("waiting {span}{early}"));
        Ok(json!({"until": until}))
    }
}

stagewright_sdk::export_action!(Wait);
