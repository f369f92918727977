//! The host side of the `sms` interface: text messages for the outbox, staged with the run.

use super::super::bindings::stagewright::action::sms::{self as wit_sms, Recipient, SmsError};
use super::super::grants::{Access, SMS};
use super::super::run_state::RunState;
use super::{CallError, SmsCallError, user_id};
use crate::changeset::StagedChange;
use crate::directory;
use crate::sms::{self, OutgoingSms};

impl wit_sms::Host for RunState {
    fn convert_sms_error(&mut self, err: SmsCallError) -> wasmtime::Result<SmsError> {
        err.settle()
    }

    async fn send(&mut self, to: Recipient, text: String) -> Result<String, SmsCallError> {
        self.allow(|g| g.check(Access::Write, SMS))?;
        let number = match to {
            Recipient::Phone(number) => number,
            Recipient::User(id) => {
                let mut conn = self.db.read().await?;
                let user = directory::active_user(&mut conn, user_id(id)?).await?;
                user.personal_mobile
                    .ok_or_else(|| CallError::invalid(format!("user {id} has no mobile number (PERSONAL_MOBILE)")))?
            }
        };
        let to = sms::check_number(&number)?;
        let text = sms::check_text(&text)?.to_string();
        let Some(run_id) = self.run_id.clone() else {
            return Err(CallError::invalid("text messages can only be sent from a run"));
        };
        let Some(slot) = self.take_message_slot() else {
            return Err(CallError::invalid(format!(
                "a run sends at most {} notifications, emails and text messages",
                self.limits.messages
            )));
        };
        let id = format!("{run_id}-{slot}");
        self.staged.push(StagedChange::Sms(OutgoingSms {
            id: id.clone(),
            run_id: Some(run_id),
            to,
            text,
        }));
        Ok(id)
    }
}
