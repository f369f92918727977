//! Test plugin "contract-0-1-1": built with wit-bindgen against the frozen
//! stagewright:action@0.1.1 contract (wit/releases/0.1.1, never edited), not the SDK. It comments
//! on the item and notifies user 1 (notify.send, new in 0.1.1), which proves a host of a later contract still links, describes and
//! runs a 0.1.1 plugin and answers the calls that version added.

wit_bindgen::generate!({
    path: "../../../wit/releases/0.1.1",
    world: "action",
});

use stagewright::action::crm;
use stagewright::action::notify::{self, Recipient};
use stagewright::action::types::Capability;

/// The 0.1.1 plugin.
pub struct Contract011;

impl Guest for Contract011 {
    fn describe() -> Manifest {
        Manifest {
            id: "contract-0-1-1".into(),
            name: "Contract 0.1.1".into(),
            version: "0.1.1".into(),
            description: "Built against stagewright:action@0.1.1.".into(),
            config_schema: r#"{"type":"object"}"#.into(),
            returns_schema: r#"{"type":"object"}"#.into(),
            capabilities: vec![Capability::Write("deal".into()), Capability::Notify],
        }
    }

    fn run(inv: Invocation) -> Result<String, ActionError> {
        crm::add_comment(&inv.item.ref_, "written by a 0.1.1 plugin")
            .map_err(|e| ActionError::Failed(format!("{e:?}")))?;
        let (id, _) = notify::send(Recipient::User(1), "sent by a 0.1.1 plugin")
            .map_err(|e| ActionError::Failed(format!("{e:?}")))?;
        Ok(format!(r#"{{"notification_id":{id}}}"#))
    }
}

export!(Contract011);
