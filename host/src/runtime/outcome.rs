//! How a run ended, in the words its run record shows: the plugin's values, its own error, or
//! a trap explained (CPU budget, memory limit, where it trapped).

use std::time::Duration;

use wasmtime::Trap;

use super::Limits;
use super::bindings::stagewright::action::types as wit;
use super::run_state::RunEffects;

/// How one run ended.
pub enum RunResult {
    /// `run` returned return values (a JSON object as text).
    Succeeded(serde_json::Value),
    /// `run` returned an error, trapped or ran out of a bound.
    Failed {
        /// What to show in the run record.
        error: String,
        /// Whether trying again may help.
        transient: bool,
    },
}

/// A finished sandboxed run.
pub struct RunOutcome {
    /// Success or failure.
    pub result: RunResult,
    /// Fuel burned.
    pub fuel_used: u64,
    /// The most linear memory the instance held, in bytes.
    pub memory_bytes: usize,
    /// Time taken.
    pub duration: Duration,
    /// Staged writes and log lines.
    pub effects: RunEffects,
}

/// Says why a call trapped in words an admin can act on; `out_of_memory` is what the run's
/// memory limiter saw.
pub(super) fn explain_trap(error: &wasmtime::Error, limits: &Limits, out_of_memory: bool) -> String {
    if out_of_memory {
        return format!("exceeded its memory limit of {} MiB", limits.memory_bytes >> 20);
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => format!("ran out of its CPU budget of {} fuel", limits.fuel),
        Some(trap) => match trap_frames(error) {
            Some(frames) => format!("trapped: {trap}, in {frames}"),
            None => format!("trapped: {trap}"),
        },
        None => format!("trapped: {error:#}"),
    }
}

/// Where a trap happened, innermost first, by the plugin's own function names (components keep
/// their name section): "follow_up::Plugin::run <- ...", at most five frames.
fn trap_frames(error: &wasmtime::Error) -> Option<String> {
    let backtrace = error.downcast_ref::<wasmtime::WasmBacktrace>()?;
    let frames: Vec<String> = backtrace
        .frames()
        .iter()
        .filter_map(|frame| frame.func_name())
        .map(|name| format!("{:#}", rustc_demangle::demangle(name)))
        .filter(|name| !name.starts_with("core::") && !name.starts_with("std::") && !name.starts_with("__rustc"))
        .take(5)
        .collect();
    (!frames.is_empty()).then(|| frames.join(" <- "))
}

/// The error a plugin returned, as its run record says it, and whether it is retried.
pub(super) fn action_error(error: wit::ActionError) -> RunResult {
    match error {
        wit::ActionError::InvalidConfig(m) => RunResult::Failed {
            error: format!("invalid config: {m}"),
            transient: false,
        },
        wit::ActionError::Transient(m) => RunResult::Failed {
            error: format!("transient: {m}"),
            transient: true,
        },
        wit::ActionError::Failed(m) => RunResult::Failed {
            error: format!("failed: {m}"),
            transient: false,
        },
    }
}
