//! The one seam between the CRM and the automation engine.
//!
//! Every CRM write that automation may react to (an item placed in its first stage, moved,
//! deleted, or something happening to it) tells an [`Automation`] inside the write's own
//! transaction, so robots are scheduled, waits end and triggers move items atomically with the
//! change that caused it, as before. The CRM only describes what happened ([`Change`]); what to do
//! about it is the engine's (`rules::Engine`), which the caller passes in. So the CRM compiles and
//! reads without the engine, and every write names the automation it sets off where it is called.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use crate::clock::Millis;
use crate::model::{CrmError, Entry, ItemRef};
use crate::store::Tx;

/// Something that happened to an item, which waits and triggers may react to.
#[derive(Debug, Clone, PartialEq)]
pub enum Happening {
    /// The item was created.
    Created,
    /// Fields changed: name, old value, new value.
    FieldsChanged(Vec<(String, Value, Value)>),
    /// An activity was added to the item (no trigger reacts; it ends waits).
    ActivityAdded,
    /// An activity of this type was completed.
    ActivityCompleted {
        /// Its type.
        type_id: i64,
    },
    /// A bound task was completed.
    TaskCompleted,
    /// A timeline comment was added.
    CommentAdded,
    /// `crm.automation.trigger` was called with this code.
    Webhook(String),
    /// `crm.automation.trigger.execute` was called with this code.
    App(String),
    /// The item has been quiet for this many days.
    Quiet {
        /// Days since its last event.
        days: i64,
    },
}

/// What a CRM write tells the engine.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// A new item was placed in the first stage of its pipeline (nothing of it is pending yet).
    Placed {
        /// The stage.
        stage_id: &'a str,
        /// The stay that begins.
        entry: Entry,
    },
    /// An item moved into another stage, leaving the one it was in.
    Moved {
        /// The stage it entered.
        stage_id: &'a str,
        /// The stay that begins.
        entry: Entry,
    },
    /// An item was deleted.
    Deleted,
    /// Something happened to the item.
    Happened(&'a Happening),
}

/// The engine's reaction to a change, running in the change's transaction; it answers how many
/// robots it scheduled.
pub type Reaction<'a> = Pin<Box<dyn Future<Output = Result<usize, CrmError>> + Send + 'a>>;

/// Whatever reacts to CRM changes: `rules::Engine` in the host.
pub trait Automation: Sync {
    /// Reacts to `change` of `item` inside `tx`. A reaction may change the item again (a trigger
    /// moving it) through the same CRM functions, passing itself on.
    fn react<'a>(&'a self, tx: &'a mut Tx, item: ItemRef, change: Change<'a>, now: Millis) -> Reaction<'a>;
}
