//! Test plugin "contract-0-1-5": built with wit-bindgen against the frozen
//! stagewright:action@0.1.5 contract (wit/releases/0.1.5, never edited), not the SDK. It comments
//! on the item and completes the item's open tasks (crm.complete-tasks, new in 0.1.5), which
//! proves a host of a later contract still links, describes and runs a 0.1.5 plugin and answers
//! the calls that version added.

wit_bindgen::generate!({
    path: "../../../wit/releases/0.1.5",
    world: "action",
});

use stagewright::action::crm;
use stagewright::action::types::Capability;

/// The 0.1.5 plugin.
pub struct Contract015;

impl Guest for Contract015 {
    fn describe() -> Manifest {
        Manifest {
            id: "contract-0-1-5".into(),
            name: "Contract 0.1.5".into(),
            version: "0.1.5".into(),
            description: "Built against stagewright:action@0.1.5.".into(),
            config_schema: r#"{"type":"object"}"#.into(),
            returns_schema: r#"{"type":"object"}"#.into(),
            capabilities: vec![Capability::Write("deal".into()), Capability::Write("task".into())],
        }
    }

    fn run(inv: Invocation) -> Result<String, ActionError> {
        crm::add_comment(&inv.item.ref_, "written by a 0.1.5 plugin")
            .map_err(|e| ActionError::Failed(format!("{e:?}")))?;
        let completed = crm::complete_tasks(&inv.item.ref_, None).map_err(|e| ActionError::Failed(format!("{e:?}")))?;
        Ok(format!(r#"{{"completed":{completed}}}"#))
    }
}

export!(Contract015);
