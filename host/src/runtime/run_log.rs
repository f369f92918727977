//! A run's log: the plugin's own lines, the host's notes (denials, outbound requests), capped by
//! the run's [`Limits`](super::Limits) so a chatty plugin cannot fill the run record.

use std::sync::{Arc, Mutex};

use super::grants::Denial;
pub use crate::queue::LogLine;

/// The lines of one run, in the order they were written, up to a number of lines and bytes.
#[derive(Debug)]
pub struct RunLog {
    lines: Vec<LogLine>,
    bytes: usize,
    dropped: usize,
    max_lines: usize,
    max_bytes: usize,
}

/// A run's log, shared by its host calls and its outbound requests.
pub type SharedLog = Arc<Mutex<RunLog>>;

impl RunLog {
    /// An empty log that keeps at most `max_lines` lines and `max_bytes` bytes of messages.
    pub fn new(max_lines: usize, max_bytes: usize) -> Self {
        Self {
            lines: Vec::new(),
            bytes: 0,
            dropped: 0,
            max_lines,
            max_bytes,
        }
    }

    /// A log to share between a run's host calls and its outbound requests.
    pub fn shared(max_lines: usize, max_bytes: usize) -> SharedLog {
        Arc::new(Mutex::new(Self::new(max_lines, max_bytes)))
    }

    /// Appends a line, or counts it when the log is full.
    pub fn push(&mut self, level: &str, message: String) {
        if self.lines.len() >= self.max_lines || self.bytes + message.len() > self.max_bytes {
            self.dropped += 1;
            return;
        }
        self.bytes += message.len();
        self.lines.push(LogLine {
            level: level.into(),
            message,
        });
    }

    /// Records a refused capability: the one place a denial reaches the run record.
    pub fn denied(&mut self, denial: &Denial) {
        self.push("error", denial.to_string());
    }

    /// Records an outbound request refused for a missing grant, after the request's line.
    pub fn denied_request(&mut self, request: &str, denial: &Denial) {
        self.push("error", format!("{request}: {denial}"));
    }

    /// The lines kept, with a last one saying how many were dropped, if any.
    pub fn finish(mut self) -> Vec<LogLine> {
        if self.dropped > 0 {
            self.lines.push(LogLine {
                level: "warn".into(),
                message: format!(
                    "{} more log lines were dropped (limit {} lines, {} bytes)",
                    self.dropped, self.max_lines, self.max_bytes
                ),
            });
        }
        self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_log_counts_what_it_drops() {
        let mut log = RunLog::new(2, 1024);
        for n in 0..5 {
            log.push("info", format!("line {n}"));
        }
        let lines = log.finish();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1].message, "line 1");
        assert_eq!(
            lines[2].message,
            "3 more log lines were dropped (limit 2 lines, 1024 bytes)"
        );
    }

    #[test]
    fn bytes_are_capped_too() {
        let mut log = RunLog::new(100, 10);
        log.push("info", "12345678".into());
        log.push("info", "abc".into());
        log.push("info", "ab".into());
        let lines = log.finish();
        assert_eq!(
            lines.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
            [
                "12345678",
                "ab",
                "1 more log lines were dropped (limit 100 lines, 10 bytes)"
            ]
        );
    }
}
