//! Built-in action "write-log": writes a line to the run record only (Bitrix24's "write to
//! log"), e.g. to see what templates resolved to while setting up a stage.

use serde::Deserialize;
use stagewright_sdk::{Action, ActionError, Context, Level, Manifest, Value, json};

/// The robot's configuration; the message may hold templates.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The line to write.
    message: String,
    /// `info` (the default), `warn` or `error`.
    #[serde(default)]
    level: Option<String>,
}

/// Writes one log line.
pub struct WriteLog;

impl Action for WriteLog {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "write-log",
            "Write to log",
            env!("CARGO_PKG_VERSION"),
            "Writes a line to the run record; changes nothing else.",
        )
        .config_schema(json!({
            "type": "object",
            "required": ["message"],
            "additionalProperties": false,
            "properties": {
                "message": {"type": "string", "minLength": 1, "title": "Message", "description": "The line to write; templates allowed."},
                "level": {"type": "string", "enum": ["info", "warn", "error"], "title": "Level", "description": "info when left out."}
            }
        }))
        .returns_schema(json!({"type": "object"}))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let level = match config.level.as_deref() {
            None | Some("info") => Level::Info,
            Some("warn") => Level::Warn,
            Some("error") => Level::Error,
            Some(other) => {
                return Err(ActionError::InvalidConfig(format!(
                    "level {other} is not info, warn or error"
                )));
            }
        };
        ctx.log(level, &config.message);
        Ok(json!({}))
    }
}

stagewright_sdk::export_action!(WriteLog);
