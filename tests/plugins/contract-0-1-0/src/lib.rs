//! Test plugin "contract-0-1-0": built with wit-bindgen against the frozen
//! stagewright:action@0.1.0 contract (wit/releases/0.1.0, never edited), not the SDK, so it
//! stays a 0.1.0 plugin while the contract grows. It comments on the item, which proves a host of
//! a later 0.1.x contract still links, describes and runs it.

wit_bindgen::generate!({
    path: "../../../wit/releases/0.1.0",
    world: "action",
});

use stagewright::action::crm;
use stagewright::action::types::Capability;

/// Comments "written by a 0.1.0 plugin" on the item.
pub struct Contract010;

impl Guest for Contract010 {
    fn describe() -> Manifest {
        Manifest {
            id: "contract-0-1-0".into(),
            name: "Contract 0.1.0".into(),
            version: "0.1.0".into(),
            description: "Built against stagewright:action@0.1.0.".into(),
            config_schema: r#"{"type":"object"}"#.into(),
            returns_schema: r#"{"type":"object"}"#.into(),
            capabilities: vec![Capability::Write("deal".into())],
        }
    }

    fn run(inv: Invocation) -> Result<String, ActionError> {
        crm::add_comment(&inv.item.ref_, "written by a 0.1.0 plugin")
            .map_err(|e| ActionError::Failed(format!("{e:?}")))?;
        Ok("{}".into())
    }
}

export!(Contract010);
