//! The host side of the `log` interface: lines for the run record.

use super::super::bindings::stagewright::action::log::{self as wit_log, Level};
use super::super::run_state::RunState;

impl wit_log::Host for RunState {
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
