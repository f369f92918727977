//! SQLite, with statements run on the calling thread.
//!
//! A statement on SQLite takes microseconds; handing it to another thread and back (what sqlx's
//! SQLite driver does for each one) cost ~50 µs on our 2-core VMs, where waking an idle CPU is a
//! hypervisor exit, and made that hand-off most of the time of every write (docs/decisions.md,
//! "SQLite statements run on the calling thread"). So the store holds rusqlite connections and
//! steps statements where it is called. sqlx still runs the migrations at start-up.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::StoreError;
use super::value::{Arg, Row, Value};

/// How long a connection waits for another process's lock on the file before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Statements each connection keeps prepared; the host has a few hundred distinct ones.
const PREPARED_STATEMENTS: usize = 512;

/// The page size of a new database file (an existing one keeps its own). Every commit appends
/// each page it changed to the WAL whole, and an item add changes a dozen (the row, seven indexes,
/// its event, the id sequence): smaller pages mean fewer bytes written and checksummed per commit.
const PAGE_SIZE: u32 = 1024;

/// Opens a connection to the database file with the settings every connection needs (WAL is a
/// property of the file, the rest per connection).
pub(super) fn open(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch(&format!("PRAGMA page_size = {PAGE_SIZE}"))?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
    conn.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS);
    Ok(conn)
}

/// Runs one statement with its arguments; `$N` placeholders take the N-th argument. Returns
/// the rows and how many rows it changed.
pub(super) fn run(conn: &Connection, sql: &str, args: &[Arg]) -> Result<(Vec<Row>, u64), StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    for index in 1..=statement.parameter_count() {
        let position = match statement.parameter_name(index) {
            Some(name) => name
                .strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| StoreError::Placeholder(name.to_string()))?,
            None => index,
        };
        let arg = args.get(position - 1).ok_or(StoreError::MissingArgument {
            position,
            bound: args.len(),
        })?;
        statement.raw_bind_parameter(index, arg)?;
    }
    let columns: Arc<[String]> = statement.column_names().into_iter().map(String::from).collect();
    let mut rows = Vec::new();
    let mut stepped = statement.raw_query();
    while let Some(row) = stepped.next()? {
        let values = (0..columns.len())
            .map(|c| row.get_ref(c).map(value_of))
            .collect::<Result<Vec<_>, _>>()?;
        rows.push(Row::new(columns.clone(), values));
    }
    drop(stepped);
    Ok((rows, conn.changes()))
}

fn value_of(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

impl ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Self::Int(Some(i)) => ValueRef::Integer(*i),
            Self::Real(Some(f)) => ValueRef::Real(*f),
            Self::Text(Some(s)) => ValueRef::Text(s.as_bytes()),
            Self::Blob(Some(b)) => ValueRef::Blob(b),
            Self::Bool(Some(b)) => ValueRef::Integer(i64::from(*b)),
            Self::Int(None) | Self::Real(None) | Self::Text(None) | Self::Blob(None) | Self::Bool(None) => {
                ValueRef::Null
            }
        }))
    }
}

/// Connections for reads: WAL lets them read beside the writer. Opened when first needed,
/// at most `size` at once.
pub(super) struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

/// A read connection taken from the pool; dropped, it goes back.
pub(super) struct PooledConnection {
    conn: Option<Connection>,
    pool: Arc<ReadPool>,
    _permit: OwnedSemaphorePermit,
}

impl ReadPool {
    pub(super) fn new(path: PathBuf, size: usize) -> Arc<Self> {
        Arc::new(Self {
            path,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(size)),
        })
    }

    pub(super) async fn acquire(self: &Arc<Self>) -> Result<PooledConnection, StoreError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open(&self.path)?,
        };
        Ok(PooledConnection {
            conn: Some(conn),
            pool: self.clone(),
            _permit: permit,
        })
    }
}

impl PooledConnection {
    pub(super) fn connection(&self) -> &Connection {
        self.conn
            .as_ref()
            .expect("a pooled connection is present until dropped")
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && conn.is_autocommit()
        {
            self.pool.idle.lock().unwrap_or_else(PoisonError::into_inner).push(conn);
        }
    }
}
