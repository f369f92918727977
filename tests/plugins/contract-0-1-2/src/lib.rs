//! Test plugin "contract-0-1-2": built with wit-bindgen against the frozen
//! stagewright:action@0.1.2 contract (wit/releases/0.1.2, never edited), not the SDK. It comments
//! on the item and waits until its own start time (flow.wait, new in 0.1.2), so it parks and times out at once, which proves a host of a later contract still links, describes and
//! runs a 0.1.2 plugin and answers the calls that version added.

wit_bindgen::generate!({
    path: "../../../wit/releases/0.1.2",
    world: "action",
});

use stagewright::action::crm;
use stagewright::action::flow;
use stagewright::action::types::Capability;

/// The 0.1.2 plugin.
pub struct Contract012;

impl Guest for Contract012 {
    fn describe() -> Manifest {
        Manifest {
            id: "contract-0-1-2".into(),
            name: "Contract 0.1.2".into(),
            version: "0.1.2".into(),
            description: "Built against stagewright:action@0.1.2.".into(),
            config_schema: r#"{"type":"object"}"#.into(),
            returns_schema: r#"{"type":"object"}"#.into(),
            capabilities: vec![Capability::Write("deal".into())],
        }
    }

    fn run(inv: Invocation) -> Result<String, ActionError> {
        crm::add_comment(&inv.item.ref_, "written by a 0.1.2 plugin")
            .map_err(|e| ActionError::Failed(format!("{e:?}")))?;
        flow::wait(inv.now_ms, &[]);
        Ok("{}".into())
    }
}

export!(Contract012);
