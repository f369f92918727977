//! The host side of the `feed` interface: Activity Stream posts, staged with the run.

use super::super::bindings::stagewright::action::feed::{self as wit_feed, FeedError};
use super::super::bindings::stagewright::action::types::ItemRef as WitRef;
use super::super::grants::{Access, FEED};
use super::super::run_state::RunState;
use super::{FeedCallError, user_id};
use crate::changeset::StagedChange;
use crate::feed::{self, NewPost};

impl wit_feed::Host for RunState {
    fn convert_feed_error(&mut self, err: FeedCallError) -> wasmtime::Result<FeedError> {
        err.settle()
    }

    async fn post(
        &mut self,
        author: u64,
        title: String,
        text: String,
        about: Option<WitRef>,
    ) -> Result<u64, FeedCallError> {
        self.allow(|g| g.check(Access::Write, FEED))?;
        let item = self.about(about)?;
        let post = NewPost {
            author_id: user_id(author)?,
            title,
            message: text,
            item,
            run_id: self.run_id.clone(),
        };
        let id = self.next_id(feed::SEQUENCE).await?;
        let change = StagedChange::FeedPost { id, post };
        self.dry_run(&change).await?;
        self.staged.push(change);
        Ok(id as u64)
    }
}
