//! Test plugin "contract-0-1-4": built with wit-bindgen against the frozen
//! stagewright:action@0.1.4 contract (wit/releases/0.1.4, never edited), not the SDK. It comments
//! on the item and takes the robot's turn among users [1] (directory.next-in-turn, new in 0.1.4), which proves a host of a later contract still links, describes and
//! runs a 0.1.4 plugin and answers the calls that version added.

wit_bindgen::generate!({
    path: "../../../wit/releases/0.1.4",
    world: "action",
});

use stagewright::action::crm;
use stagewright::action::directory;
use stagewright::action::types::Capability;

/// The 0.1.4 plugin.
pub struct Contract014;

impl Guest for Contract014 {
    fn describe() -> Manifest {
        Manifest {
            id: "contract-0-1-4".into(),
            name: "Contract 0.1.4".into(),
            version: "0.1.4".into(),
            description: "Built against stagewright:action@0.1.4.".into(),
            config_schema: r#"{"type":"object"}"#.into(),
            returns_schema: r#"{"type":"object"}"#.into(),
            capabilities: vec![Capability::Write("deal".into()), Capability::Read("user".into())],
        }
    }

    fn run(inv: Invocation) -> Result<String, ActionError> {
        crm::add_comment(&inv.item.ref_, "written by a 0.1.4 plugin")
            .map_err(|e| ActionError::Failed(format!("{e:?}")))?;
        let next = directory::next_in_turn(&[1], &[]).map_err(|e| ActionError::Failed(format!("{e:?}")))?;
        Ok(format!(r#"{{"next":{}}}"#, next.unwrap_or_default()))
    }
}

export!(Contract014);
