//! Every bound a run is held to, in one place: CPU, memory and time, and how much it may log,
//! send and list.

use std::time::Duration;

/// Per-run bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Fuel (roughly, Wasm instructions) one run may burn.
    pub fuel: u64,
    /// Linear memory one run may grow to.
    pub memory_bytes: usize,
    /// Wall-clock time one run may take, host calls included.
    pub wall_time: Duration,
    /// Log lines one run keeps; the rest are counted, not stored.
    pub log_lines: usize,
    /// Bytes of log messages one run keeps.
    pub log_bytes: usize,
    /// Emails and notifications one run may send together: a loop in a plugin must not flood
    /// inboxes.
    pub messages: usize,
    /// Most items one `crm.list` call answers, whatever limit the plugin asked for.
    pub list_items: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 200_000_000,
            memory_bytes: 64 << 20,
            wall_time: Duration::from_secs(10),
            log_lines: 200,
            log_bytes: 64 * 1024,
            messages: 50,
            list_items: 500,
        }
    }
}
