//! The host side of the `directory` interface: who is away, and whose turn it is.

use super::super::bindings::stagewright::action::directory as wit_directory;
use super::super::grants::{Access, USERS};
use super::super::run_state::RunState;
use super::{CallError, CrmCallError, user_ids};
use crate::directory;

impl wit_directory::Host for RunState {
    async fn absent(&mut self, users: Vec<u64>) -> Result<Vec<u64>, CrmCallError> {
        self.allow(|g| g.check(Access::Read, USERS))?;
        let users = user_ids(users);
        let mut conn = self.db.read().await?;
        let absent = directory::absent_at(&mut conn, &users, self.now).await?;
        Ok(absent.into_iter().map(|u| u as u64).collect())
    }

    async fn next_in_turn(&mut self, users: Vec<u64>, skipping: Vec<u64>) -> Result<Option<u64>, CrmCallError> {
        self.allow(|g| g.check(Access::Read, USERS))?;
        let Some(robot_id) = self.robot_id.clone() else {
            return Err(CallError::invalid("only a robot's run has a turn to take"));
        };
        let users = user_ids(users);
        let skipping = user_ids(skipping);
        let mut tx = self.db.write().await?;
        let next = directory::take_turn(&mut tx, &robot_id, &users, &skipping).await;
        match next {
            Ok(_) => tx.keep().await?,
            Err(_) => tx.undo().await?,
        }
        Ok(next?.map(|u| u as u64))
    }
}
