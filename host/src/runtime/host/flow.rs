//! The host side of the `flow` interface: a run that parks its stage's chain.

use super::super::bindings::stagewright::action::flow::{self as wit_flow, WakeOn};
use super::super::run_state::{RunState, Wait};
use crate::clock::Millis;

impl wit_flow::Host for RunState {
    async fn wait(&mut self, until_ms: u64, wake_on: Vec<WakeOn>) -> wasmtime::Result<()> {
        let mut kinds: Vec<String> = wake_on
            .into_iter()
            .map(|w| {
                match w {
                    WakeOn::Activity => "activity",
                    WakeOn::Comment => "comment",
                    WakeOn::Task => "task",
                    WakeOn::Change => "change",
                }
                .to_string()
            })
            .collect();
        kinds.sort();
        kinds.dedup();
        self.wait = Some(Wait {
            until: Millis::try_from(until_ms).unwrap_or(Millis::MAX),
            wake_on: kinds,
        });
        Ok(())
    }
}
