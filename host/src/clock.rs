//! Time as the scheduler sees it. Production uses the system clock; tests and `--manual-clock`
//! use a clock an admin moves forward, so "in 3 days" is tested in milliseconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Milliseconds since the Unix epoch, the unit every stored time uses.
pub type Millis = i64;

/// The host's clock; cheap to clone.
#[derive(Clone)]
pub enum Clock {
    /// Wall-clock time.
    System,
    /// Time that only moves when told to.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A manual clock starting at the current wall-clock time.
    pub fn manual() -> Self {
        Self::Manual(Arc::new(AtomicI64::new(chrono::Utc::now().timestamp_millis())))
    }

    /// The current time.
    pub fn now(&self) -> Millis {
        match self {
            Self::System => chrono::Utc::now().timestamp_millis(),
            Self::Manual(now) => now.load(Ordering::SeqCst),
        }
    }

    /// Whether time moves only when told to (`--manual-clock`).
    pub fn is_manual(&self) -> bool {
        matches!(self, Self::Manual(_))
    }

    /// Moves a manual clock forward; returns the new time, or `None` for the system clock.
    pub fn advance(&self, by: Millis) -> Option<Millis> {
        match self {
            Self::System => None,
            Self::Manual(now) => Some(now.fetch_add(by, Ordering::SeqCst) + by),
        }
    }
}
