//! The one crate a Stagewright plugin author depends on.
//!
//! An action is a type implementing [`Action`], with a serde-deserialized config, exported with
//! [`export_action!`]. Build it with `cargo build --target wasm32-wasip2 --release` and upload the
//! `.wasm` to a Stagewright host. The host hands the action a [`Context`] for its CRM calls and
//! log lines; every call is checked against the capabilities the manifest asked for.

#![warn(missing_docs)]

mod context;
mod error;
pub mod http;
mod manifest;
pub mod time;

pub use context::Context;
pub use error::ActionError;
pub use manifest::{Capability, Manifest};
pub use serde_json::{Value, json};

/// The bindings generated from the `stagewright:action` WIT package, for what the typed API
/// does not cover.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "action",
        pub_export_macro: true,
        export_macro_name: "__export_action_world",
        default_bindings_module: "::stagewright_sdk::bindings",
        generate_all,
    });
}

pub use bindings::stagewright::action::crm::CrmError;
pub use bindings::stagewright::action::email::{Message as EmailMessage, Recipient as EmailRecipient};
pub use bindings::stagewright::action::flow::WakeOn;
pub use bindings::stagewright::action::log::Level;
pub use bindings::stagewright::action::notify::Recipient as NotifyRecipient;
pub use bindings::stagewright::action::sms::Recipient as SmsRecipient;
pub use bindings::stagewright::action::types::{Item, ItemRef};

/// The item's short CRM reference as task bindings (`UF_CRM_TASK`) take it: `L_1`, `D_12`,
/// `C_3`, `CO_4`, and `T80_5` for item 5 of smart process 128 (its entityTypeId in hex).
pub fn crm_binding(item: &ItemRef) -> String {
    let prefix = match item.entity_type.as_str() {
        "lead" => "L".to_string(),
        "deal" => "D".to_string(),
        "contact" => "C".to_string(),
        "company" => "CO".to_string(),
        other => match other.strip_prefix("dynamic_").and_then(|id| id.parse::<u64>().ok()) {
            Some(type_id) => format!("T{type_id:x}"),
            None => other.to_string(),
        },
    };
    format!("{prefix}_{}", item.id)
}

/// A positive id from a config value that is a number or, after templates resolved, its text
/// ("7"); `what` names the setting in the error an admin reads.
pub fn id_from(value: &Value, what: &str) -> Result<u64, ActionError> {
    let id = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    id.filter(|id| *id > 0)
        .ok_or_else(|| ActionError::InvalidConfig(format!("{what} must be a positive id, not {value}")))
}

/// A robot action: what it needs ([`Action::manifest`]) and what it does ([`Action::run`]).
pub trait Action {
    /// The robot's configuration, deserialized from the JSON the admin saved (templates resolved).
    type Config: serde::de::DeserializeOwned;

    /// The manifest the host shows admins and enforces at every host call.
    fn manifest() -> Manifest;

    /// Runs once for one item; the returned JSON object holds the return values later robots see.
    fn run(ctx: &Context, config: Self::Config) -> Result<Value, ActionError>;
}

/// Glue between the generated bindings and an [`Action`]; used by [`export_action!`].
#[doc(hidden)]
pub mod __private {
    use super::*;
    use bindings::stagewright::action::types as wit;

    pub fn describe<A: Action>() -> wit::Manifest {
        A::manifest().into_wit()
    }

    pub fn run<A: Action>(inv: wit::Invocation) -> Result<String, wit::ActionError> {
        let config: A::Config =
            serde_json::from_str(&inv.config).map_err(|e| wit::ActionError::InvalidConfig(e.to_string()))?;
        let ctx = Context::new(inv);
        let value = A::run(&ctx, config).map_err(ActionError::into_wit)?;
        Ok(value.to_string())
    }
}

/// Exports a type implementing [`Action`] as the component's `action` world.
///
/// ```text
/// stagewright_sdk::export_action!(MyAction);
/// ```
#[macro_export]
macro_rules! export_action {
    ($action:ty) => {
        #[doc(hidden)]
        pub struct __StagewrightExport;

        impl $crate::bindings::Guest for __StagewrightExport {
            fn describe() -> $crate::bindings::stagewright::action::types::Manifest {
                $crate::__private::describe::<$action>()
            }

            fn run(
                inv: $crate::bindings::stagewright::action::types::Invocation,
            ) -> ::core::result::Result<
                ::std::string::String,
                $crate::bindings::stagewright::action::types::ActionError,
            > {
                $crate::__private::run::<$action>(inv)
            }
        }

        $crate::bindings::__export_action_world!(__StagewrightExport with_types_in $crate::bindings);
    };
}
