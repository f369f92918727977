//! Test plugin "noop": echoes its config back, touching nothing; the sandbox benchmark's subject.

use stagewright_sdk::{Action, ActionError, Context, Manifest, Value, json};

/// Returns `{"echo": config}`.
pub struct Noop;

impl Action for Noop {
    type Config = Value;

    fn manifest() -> Manifest {
        Manifest::new("noop", "No-op", "1.0.0", "Echoes its config; for benchmarks.")
    }

    fn run(_ctx: &Context, config: Value) -> Result<Value, ActionError> {
        Ok(json!({"echo": config}))
    }
}

stagewright_sdk::export_action!(Noop);
