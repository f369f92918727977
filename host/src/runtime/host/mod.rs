//! What a plugin can reach from inside its sandbox: one module per interface of the contract
//! (`crm`, `directory`, `notify`, `email`, `sms`, `feed`, `booking`, `flow`, `log`), each the host side of that interface.
//! Outbound HTTP goes through `wasi:http` (see `super::outbound`).
//!
//! Every call first asks the run's [`Grants`](super::grants::Grants). Reads go to the database
//! through this run's staged writes; writes are checked against the CRM's rules at once, so the
//! plugin sees errors where it made them, but only staged: the scheduler applies them in the
//! transaction that records the run.
//!
//! A call ends in one of three ways: the answer, a refusal the plugin is told about (the
//! interface's WIT error), or a [`HostFailure`] (the database failed), which traps the run so the
//! scheduler records a transient failure and tries again. [`CallError`] carries the last two;
//! the bindings map it with `trappable_error_type`, so host functions use `?`.

mod booking;
mod crm;
mod directory;
mod email;
mod feed;
mod flow;
mod log;
mod notify;
mod sms;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use super::bindings::stagewright::action::booking::BookingError as WitBookingError;
use super::bindings::stagewright::action::crm::CrmError as WitCrmError;
use super::bindings::stagewright::action::email::EmailError;
use super::bindings::stagewright::action::feed::FeedError;
use super::bindings::stagewright::action::notify::NotifyError;
use super::bindings::stagewright::action::sms::SmsError;
use super::bindings::stagewright::action::types::{self as wit, Item as WitItem, ItemRef as WitRef};
use super::grants::Denial;
use super::run_state::RunState;
use crate::model::{CrmError, Item, ItemRef};
use crate::store::StoreError;

/// The host could not answer a call through no fault of the plugin's (the database failed).
/// The run traps with it, and the scheduler records a transient failure and retries.
#[derive(Debug, thiserror::Error)]
#[error("host storage error: {0}")]
pub struct HostFailure(pub StoreError);

/// Why a host call did not give the plugin what it asked for.
#[derive(Debug)]
pub enum CallError<E> {
    /// Refused: the plugin gets the interface's error and may go on.
    Refused(E),
    /// The host failed: the run traps.
    Failed(HostFailure),
}

/// A `crm` or `directory` call's error.
pub type CrmCallError = CallError<WitCrmError>;
/// A `notify` call's error.
pub type NotifyCallError = CallError<NotifyError>;
/// An `email` call's error.
pub type EmailCallError = CallError<EmailError>;
/// An `sms` call's error.
pub type SmsCallError = CallError<SmsError>;
/// A `feed` call's error.
pub type FeedCallError = CallError<FeedError>;
/// A `booking` call's error.
pub type BookingCallError = CallError<WitBookingError>;

/// An interface's WIT error, built from what the host knows of a refusal.
pub trait Refusal: Sized {
    /// The arguments cannot be used.
    fn invalid(why: String) -> Self;
    /// The capability was not granted.
    fn denied(denial: &Denial) -> Self;
}

impl Refusal for WitCrmError {
    fn invalid(why: String) -> Self {
        Self::Invalid(why)
    }
    fn denied(denial: &Denial) -> Self {
        Self::Denied(denial.capability())
    }
}

impl Refusal for NotifyError {
    fn invalid(why: String) -> Self {
        Self::Invalid(why)
    }
    fn denied(_: &Denial) -> Self {
        Self::Denied
    }
}

impl Refusal for EmailError {
    fn invalid(why: String) -> Self {
        Self::Invalid(why)
    }
    fn denied(_: &Denial) -> Self {
        Self::Denied
    }
}

impl Refusal for WitBookingError {
    fn invalid(why: String) -> Self {
        Self::Invalid(why)
    }
    fn denied(denial: &Denial) -> Self {
        Self::Denied(denial.capability())
    }
}

impl Refusal for FeedError {
    fn invalid(why: String) -> Self {
        Self::Invalid(why)
    }
    fn denied(denial: &Denial) -> Self {
        Self::Denied(denial.capability())
    }
}

impl Refusal for SmsError {
    fn invalid(why: String) -> Self {
        Self::Invalid(why)
    }
    fn denied(denial: &Denial) -> Self {
        Self::Denied(denial.capability())
    }
}

impl<E: Refusal> CallError<E> {
    /// The arguments cannot be used.
    pub fn invalid(why: impl Into<String>) -> Self {
        Self::Refused(E::invalid(why.into()))
    }

    /// What the bindings hand the guest: its error, or the trap.
    fn settle(self) -> wasmtime::Result<E> {
        match self {
            Self::Refused(e) => Ok(e),
            Self::Failed(failure) => Err(failure.into()),
        }
    }
}

impl<E: Refusal> From<Denial> for CallError<E> {
    fn from(denial: Denial) -> Self {
        Self::Refused(E::denied(&denial))
    }
}

impl<E: Refusal> From<StoreError> for CallError<E> {
    fn from(e: StoreError) -> Self {
        Self::Failed(HostFailure(e))
    }
}

/// A CRM operation's error: the database's is the host's failure, the rest the plugin's.
impl<E: Refusal> From<CrmError> for CallError<E> {
    fn from(e: CrmError) -> Self {
        match e {
            CrmError::Store(e) => e.into(),
            other => Self::invalid(other.to_string()),
        }
    }
}

impl From<WitCrmError> for CrmCallError {
    fn from(e: WitCrmError) -> Self {
        Self::Refused(e)
    }
}

impl wit::Host for RunState {}

impl RunState {
    /// The item a call is `about`, when it names one the plugin may read.
    fn about<E: Refusal>(&mut self, about: Option<WitRef>) -> Result<Option<ItemRef>, CallError<E>> {
        let Some(r) = about else {
            return Ok(None);
        };
        let entity_type = self.allow(|g| g.entity(super::grants::Access::Read, &r.entity_type))?;
        let id = i64::try_from(r.id).map_err(|_| CallError::invalid(format!("id {} is out of range", r.id)))?;
        Ok(Some(ItemRef { entity_type, id }))
    }
}

/// Reading one item: "not found" names the item the plugin asked for.
fn read_error(e: CrmError, item_ref: ItemRef) -> CrmCallError {
    match e {
        CrmError::NotFound(_) => WitCrmError::NotFound(to_wit_ref(item_ref)).into(),
        other => other.into(),
    }
}

fn parse_object<E: Refusal>(name: &str, json: &str) -> Result<Map<String, Value>, CallError<E>> {
    match serde_json::from_str(json) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(CallError::invalid(format!("{name} must be a JSON object"))),
    }
}

/// Users' ids as the store keeps them; an id too large to be one names no user.
fn user_ids(users: Vec<u64>) -> Vec<i64> {
    users.into_iter().filter_map(|u| i64::try_from(u).ok()).collect()
}

/// A user id from the guest; one too large names no user.
fn user_id<E: Refusal>(id: u64) -> Result<i64, CallError<E>> {
    i64::try_from(id).map_err(|_| CallError::invalid(format!("user {id} does not exist")))
}

fn id_of(r: &WitRef) -> Result<i64, CrmCallError> {
    i64::try_from(r.id).map_err(|_| CallError::invalid(format!("id {} is out of range", r.id)))
}

fn to_wit_ref(r: ItemRef) -> WitRef {
    WitRef {
        entity_type: r.entity_type.to_string(),
        id: r.id as u64,
    }
}

/// The item as a plugin sees it: the REST shape, so templates and plugins use one set of names,
/// with every field, custom ones (`UF_CRM_*`) included, as the contract says.
pub fn to_wit_item(item: &Item) -> WitItem {
    selected_wit_item(item, &["*".into(), "UF_*".into()])
}

/// The item with only the selected fields (all when `select` is empty or holds `*`).
fn selected_wit_item(item: &Item, select: &[String]) -> WitItem {
    WitItem {
        ref_: to_wit_ref(item.item_ref),
        category_id: item.category_id.map(|c| c as u64),
        stage_id: item.stage_id.clone(),
        fields: Value::Object(item.to_rest_selected(select)).to_string(),
    }
}
