//! The host side of the `booking` interface: resources booked and freed, staged with the run.

use super::super::bindings::stagewright::action::booking::{self as wit_booking, BookingError as WitBookingError};
use super::super::bindings::stagewright::action::types::ItemRef as WitRef;
use super::super::grants::{Access, BOOKING};
use super::super::run_state::RunState;
use super::{BookingCallError, CallError, user_id};
use crate::booking::{self, BookingError, NewBooking};
use crate::changeset::{self, StagedChange};
use crate::clock::Millis;
use crate::model::parse_datetime;
use crate::rules::Engine;

/// A booking's start as the guest gives it (ISO 8601), in milliseconds.
fn start_of(start: &str) -> Result<Millis, BookingCallError> {
    parse_datetime(start.trim()).ok_or_else(|| CallError::invalid(format!("{start:?} is not a date and time")))
}

impl wit_booking::Host for RunState {
    fn convert_booking_error(&mut self, err: BookingCallError) -> wasmtime::Result<WitBookingError> {
        err.settle()
    }

    async fn book(
        &mut self,
        resource: u64,
        start: String,
        minutes: u32,
        user: Option<u64>,
        title: String,
        about: Option<WitRef>,
    ) -> Result<u64, BookingCallError> {
        self.allow(|g| g.check(Access::Write, BOOKING))?;
        let item = self.about(about)?;
        let new = NewBooking {
            resource_id: i64::try_from(resource)
                .map_err(|_| CallError::invalid(format!("resource {resource} does not exist")))?,
            name: title,
            starts_at: start_of(&start)?,
            ends_at: start_of(&start)? + Millis::from(minutes) * 60_000,
            user_id: user.map(user_id).transpose()?,
            item,
            run_id: self.run_id.clone(),
        };
        let id = self.next_id(booking::SEQUENCE).await?;
        // Checked after the run's earlier changes, in a transaction rolled back: a clash is the
        // plugin's to hear about as `taken`.
        let mut tx = self.db.check().await?;
        let checked = match changeset::apply(&mut tx, &Engine, &self.staged, self.now).await {
            Ok(()) => booking::book(&mut tx, Some(id), &new, self.now).await,
            Err(e) => Err(BookingError::Crm(e)),
        };
        tx.undo().await?;
        match checked {
            Ok(_) => {}
            Err(taken @ BookingError::Taken { .. }) => {
                return Err(CallError::Refused(WitBookingError::Taken(taken.to_string())));
            }
            Err(BookingError::Crm(e)) => return Err(e.into()),
        }
        self.staged.push(StagedChange::Booking { id, booking: new });
        Ok(id as u64)
    }

    async fn cancel(&mut self, id: u64) -> Result<bool, BookingCallError> {
        self.allow(|g| g.check(Access::Write, BOOKING))?;
        let id = i64::try_from(id).map_err(|_| CallError::invalid(format!("booking {id} does not exist")))?;
        let mut conn = self.db.read().await?;
        let found = booking::get(&mut conn, id).await?;
        drop(conn);
        let staged = self
            .staged
            .iter()
            .any(|c| matches!(c, StagedChange::CancelBooking(other) if *other == id));
        let still_booked = found.cancelled_at.is_none() && !staged;
        if still_booked {
            self.staged.push(StagedChange::CancelBooking(id));
        }
        Ok(still_booked)
    }
}
