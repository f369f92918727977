//! Test plugin "contract-0-1-3": built with wit-bindgen against the frozen
//! stagewright:action@0.1.3 contract (wit/releases/0.1.3, never edited), not the SDK. It comments
//! on the item and asks whether user 1 is away (directory.absent, new in 0.1.3), which proves a host of a later contract still links, describes and
//! runs a 0.1.3 plugin and answers the calls that version added.

wit_bindgen::generate!({
    path: "../../../wit/releases/0.1.3",
    world: "action",
});

use stagewright::action::crm;
use stagewright::action::directory;
use stagewright::action::types::Capability;

/// The 0.1.3 plugin.
pub struct Contract013;

impl Guest for Contract013 {
    fn describe() -> Manifest {
        Manifest {
            id: "contract-0-1-3".into(),
            name: "Contract 0.1.3".into(),
            version: "0.1.3".into(),
            description: "Built against stagewright:action@0.1.3.".into(),
            config_schema: r#"{"type":"object"}"#.into(),
            returns_schema: r#"{"type":"object"}"#.into(),
            capabilities: vec![Capability::Write("deal".into()), Capability::Read("user".into())],
        }
    }

    fn run(inv: Invocation) -> Result<String, ActionError> {
        crm::add_comment(&inv.item.ref_, "written by a 0.1.3 plugin")
            .map_err(|e| ActionError::Failed(format!("{e:?}")))?;
        let absent = directory::absent(&[1]).map_err(|e| ActionError::Failed(format!("{e:?}")))?;
        Ok(format!(r#"{{"absent":{absent:?}}}"#))
    }
}

export!(Contract013);
