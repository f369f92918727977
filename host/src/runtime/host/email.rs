//! The host side of the `email` interface: messages for the outbox, staged with the run.

use super::super::bindings::stagewright::action::email::{self as wit_email, EmailError, Message, Recipient};
use super::super::run_state::RunState;
use super::{CallError, EmailCallError, user_id};
use crate::changeset::StagedChange;
use crate::directory;
use crate::mailer::{self, OutgoingEmail};

impl wit_email::Host for RunState {
    fn convert_email_error(&mut self, err: EmailCallError) -> wasmtime::Result<EmailError> {
        err.settle()
    }

    async fn queue(&mut self, message: Message) -> Result<String, EmailCallError> {
        self.allow(|g| g.email())?;
        if message.to.is_empty() {
            return Err(CallError::invalid("the message has no recipients"));
        }
        if message.subject.trim().is_empty() {
            return Err(CallError::invalid("the subject is empty"));
        }
        let mut conn = self.db.read().await?;
        let mut to = Vec::with_capacity(message.to.len());
        for recipient in message.to {
            let address = match recipient {
                Recipient::Address(address) => address,
                Recipient::User(id) => {
                    let user = directory::active_user(&mut conn, user_id(id)?).await?;
                    user.email
                        .ok_or_else(|| CallError::invalid(format!("user {id} has no email address")))?
                }
            };
            to.push(mailer::check_address(&address)?);
        }
        drop(conn);
        let Some(run_id) = self.run_id.clone() else {
            return Err(CallError::invalid("email can only be sent from a run"));
        };
        let Some(slot) = self.take_message_slot() else {
            return Err(CallError::invalid(format!(
                "a run sends at most {} notifications and emails",
                self.limits.messages
            )));
        };
        let id = format!("{run_id}-{slot}");
        self.staged.push(StagedChange::Email(OutgoingEmail {
            id: id.clone(),
            run_id: Some(run_id),
            to,
            subject: message.subject,
            text: message.text,
            html: message.html,
        }));
        Ok(id)
    }
}
