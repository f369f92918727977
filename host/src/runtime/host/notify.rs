//! The host side of the `notify` interface: notifications to employees, staged with the run.

use super::super::bindings::stagewright::action::notify::{self as wit_notify, NotifyError, Recipient};
use super::super::run_state::RunState;
use super::{CallError, NotifyCallError, user_id};
use crate::changeset::StagedChange;
use crate::directory::{self, AUTOMATION_USER};
use crate::notifications::{self, NewNotification};

impl wit_notify::Host for RunState {
    fn convert_notify_error(&mut self, err: NotifyCallError) -> wasmtime::Result<NotifyError> {
        err.settle()
    }

    async fn send(&mut self, to: Recipient, message: String) -> Result<(u64, u64), NotifyCallError> {
        self.allow(|g| g.notify())?;
        let mut conn = self.db.read().await?;
        let user_id = match to {
            Recipient::User(id) => user_id(id)?,
            Recipient::SupervisorOf(id) => directory::supervisor_of(&mut conn, user_id(id)?).await?.id,
        };
        notifications::check(&mut conn, user_id, &message).await?;
        drop(conn);
        if self.take_message_slot().is_none() {
            return Err(CallError::invalid(format!(
                "a run sends at most {} notifications and emails",
                self.limits.messages
            )));
        }
        let id = self.db.reserve_id(notifications::SEQUENCE).await?;
        self.staged.push(StagedChange::Notification(NewNotification {
            id: Some(id),
            user_id,
            author_id: AUTOMATION_USER,
            module: "crm".into(),
            tag: Some(format!("ROBOT|{}", self.run_id.as_deref().unwrap_or_default())),
            message,
            run_id: self.run_id.clone(),
        }));
        Ok((id as u64, user_id as u64))
    }
}
