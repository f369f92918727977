//! What happened to an item, oldest first: its events (created, fields and stage changed,
//! comments, completed activities and tasks, triggers fired) and its robots' runs, at the time
//! they finished or are due. The admin API's `/timeline` and the board's item page show it.

use crate::clock::Millis;
use crate::crm::{self, Event};
use crate::model::{CrmError, ItemRef};
use crate::queue::{self, RunFilter, RunRecord};
use crate::store::Conn;

/// The most runs a timeline shows.
const MAX_RUNS: i64 = 1000;

/// One entry of an item's timeline.
#[derive(Debug, Clone)]
pub enum Entry {
    /// Something the item's events record.
    Event(Event),
    /// A robot run.
    Run(Box<RunRecord>),
}

impl Entry {
    /// When it happened: the event's time, or the run's end (its due time while it has none).
    pub fn at(&self) -> Millis {
        match self {
            Self::Event(event) => event.at,
            Self::Run(run) => run.finished_at.unwrap_or(run.due_at),
        }
    }
}

/// An item's timeline, oldest first.
pub async fn of(conn: &mut Conn, item_ref: ItemRef) -> Result<Vec<Entry>, CrmError> {
    let mut entries: Vec<Entry> = crm::events(conn, item_ref)
        .await?
        .into_iter()
        .map(Entry::Event)
        .collect();
    let filter = RunFilter {
        entity_type: Some(item_ref.entity_type.to_string()),
        item_id: Some(item_ref.id),
        limit: Some(MAX_RUNS),
        ..RunFilter::default()
    };
    entries.extend(
        queue::list(conn, &filter)
            .await?
            .into_iter()
            .map(|run| Entry::Run(Box::new(run))),
    );
    entries.sort_by_key(Entry::at);
    Ok(entries)
}
