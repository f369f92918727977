//! The one crate a Stagewright plugin author depends on.
//!
//! An action is a type implementing [`Action`], with a serde-deserialized config, exported with
//! [`export_action!`]. Build it with `cargo build --target wasm32-wasip2 --release` and upload the
//! `.wasm` to a Stagewright host. The host hands the action a [`Context`] for its CRM calls and
//! log lines; every call is checked against the capabilities the manifest asked for.

#![warn(missing_docs)]

mod context;
mod error;
mod manifest;

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
pub use bindings::stagewright::action::log::Level;
pub use bindings::stagewright::action::types::{Item, ItemRef};

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
