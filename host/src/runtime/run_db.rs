//! Where a run's host calls reach the database. A run of its own reads through the pool and
//! checks its writes in a transaction it rolls back. A run inside a chain slice does both in the
//! slice's one write transaction, so it sees what the slice's earlier runs wrote before any of it
//! is committed (docs/decisions.md, "A chain's robots share one transaction").

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::store::{self, Conn, Store, StoreError, Tx};

/// Where a run's host calls reach the database.
#[derive(Clone)]
pub struct RunDb {
    store: Store,
    /// The slice the run is in; without one, reads go to the pool, and checks and id
    /// reservations to transactions of their own.
    slice: Option<SliceTx>,
}

/// A chain slice's write transaction, shared by the worker that holds it and the host calls of
/// the run in hand. Only one of them uses it at a time: the worker while no run is in hand, a
/// run's host calls one after another.
#[derive(Clone)]
pub struct SliceTx(Arc<Mutex<Tx>>);

impl SliceTx {
    /// Shares `tx` for a slice.
    pub fn new(tx: Tx) -> Self {
        Self(Arc::new(Mutex::new(tx)))
    }

    /// The transaction, for one caller at a time.
    pub async fn lock(&self) -> OwnedMutexGuard<Tx> {
        self.0.clone().lock_owned().await
    }

    /// The transaction back, to commit; `None` while a run still holds a share of it.
    pub fn into_tx(self) -> Option<Tx> {
        Arc::try_unwrap(self.0).ok().map(Mutex::into_inner)
    }
}

/// A connection for a host call's reads. Hold it for a few reads and drop it: inside a slice it
/// is the slice's transaction, which the next call needs.
pub enum RunConn {
    /// A pooled connection, or the idle writer lent for reads ([`crate::store::Pool::acquire_quick`]).
    Own(Conn),
    /// The slice's transaction.
    Slice(OwnedMutexGuard<Tx>),
}

impl Deref for RunConn {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        match self {
            Self::Own(conn) => conn,
            Self::Slice(tx) => tx,
        }
    }
}

impl DerefMut for RunConn {
    fn deref_mut(&mut self) -> &mut Conn {
        match self {
            Self::Own(conn) => conn,
            Self::Slice(tx) => tx,
        }
    }
}

/// Writes a host call makes to check or take something, ended by [`Self::undo`] or
/// [`Self::keep`]. Inside a slice it is a savepoint of the slice's transaction. One dropped
/// without either, by a run cut off in the middle of a call, is undone with the run: the
/// scheduler rolls a run that did not succeed back to its own savepoint.
pub enum RunTx {
    /// A transaction of its own.
    Own(Tx),
    /// A savepoint in the slice's transaction.
    Slice(OwnedMutexGuard<Tx>),
}

/// The savepoint of a host call's writes inside a slice.
const CALL_SAVEPOINT: &str = "host_call";

impl Deref for RunTx {
    type Target = Tx;
    fn deref(&self) -> &Tx {
        match self {
            Self::Own(tx) => tx,
            Self::Slice(tx) => tx,
        }
    }
}

impl DerefMut for RunTx {
    fn deref_mut(&mut self) -> &mut Tx {
        match self {
            Self::Own(tx) => tx,
            Self::Slice(tx) => tx,
        }
    }
}

impl RunTx {
    /// Drops the writes: a check that must leave nothing behind.
    pub async fn undo(self) -> Result<(), StoreError> {
        match self {
            Self::Own(tx) => tx.rollback().await,
            Self::Slice(mut tx) => end_savepoint(&mut tx, CALL_SAVEPOINT, false).await,
        }
    }

    /// Keeps the writes: in their own commit (which need not wait for the disk: what depends on
    /// them is written by a later one), or with the slice.
    pub async fn keep(self) -> Result<(), StoreError> {
        match self {
            Self::Own(tx) => tx.commit().await,
            Self::Slice(mut tx) => end_savepoint(&mut tx, CALL_SAVEPOINT, true).await,
        }
    }
}

impl RunDb {
    /// A run of its own.
    pub fn own(store: Store) -> Self {
        Self { store, slice: None }
    }

    /// A run in `slice`.
    pub fn in_slice(store: Store, slice: SliceTx) -> Self {
        Self {
            store,
            slice: Some(slice),
        }
    }

    /// The store, for what waits on it rather than reads it (the sync before outbound HTTP).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A connection for reads.
    pub async fn read(&self) -> Result<RunConn, StoreError> {
        match &self.slice {
            None => Ok(RunConn::Own(self.store.pool().acquire_quick().await?)),
            Some(slice) => Ok(RunConn::Slice(slice.lock().await)),
        }
    }

    /// Writes to check something and then [`RunTx::undo`].
    pub async fn check(&self) -> Result<RunTx, StoreError> {
        match &self.slice {
            None => Ok(RunTx::Own(self.store.write().await?)),
            Some(slice) => Self::savepoint(slice).await,
        }
    }

    /// Writes to [`RunTx::keep`] whatever becomes of the run (a turn taken in a rotation).
    pub async fn write(&self) -> Result<RunTx, StoreError> {
        match &self.slice {
            None => Ok(RunTx::Own(self.store.write_unsynced().await?)),
            Some(slice) => Self::savepoint(slice).await,
        }
    }

    async fn savepoint(slice: &SliceTx) -> Result<RunTx, StoreError> {
        let mut tx = slice.lock().await;
        begin_savepoint(&mut tx, CALL_SAVEPOINT).await?;
        Ok(RunTx::Slice(tx))
    }

    /// Reserves the next id of a named sequence for a write the run's end makes; in a slice, in
    /// its transaction (an id a lost slice took is handed out again).
    pub async fn reserve_id(&self, sequence: &str) -> Result<i64, StoreError> {
        match &self.slice {
            None => self.store.reserve_id(sequence).await,
            Some(slice) => Store::next_id(&mut *slice.lock().await, sequence).await,
        }
    }
}

/// Opens a savepoint named `name` in `tx`.
pub async fn begin_savepoint(tx: &mut Tx, name: &str) -> Result<(), StoreError> {
    store::query(&format!("SAVEPOINT {name}")).execute(tx).await.map(drop)
}

/// Ends the savepoint `name`: its writes stay in `tx` if `keep`, else they are undone.
pub async fn end_savepoint(tx: &mut Tx, name: &str, keep: bool) -> Result<(), StoreError> {
    if !keep {
        store::query(&format!("ROLLBACK TO SAVEPOINT {name}"))
            .execute(&mut *tx)
            .await?;
    }
    store::query(&format!("RELEASE SAVEPOINT {name}"))
        .execute(tx)
        .await
        .map(drop)
}
