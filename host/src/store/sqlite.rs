//! SQLite, with statements run on the calling thread.
//!
//! A statement on SQLite takes microseconds; handing it to another thread and back (what sqlx's
//! SQLite driver does for each one) cost ~50 µs on our 2-core VMs, where waking an idle CPU is a
//! hypervisor exit, and made that hand-off most of the time of every write (docs/decisions.md,
//! "SQLite statements run on the calling thread"). So the store holds rusqlite connections and
//! steps statements where it is called. sqlx still runs the migrations at start-up.

use std::borrow::Cow;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};

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

/// WAL pages after which a commit copies the WAL into the database file. SQLite's default of
/// 1,000 is 1 MB at our page size: checkpoints came every ~80 item adds, each syncing the file
/// twice, and a hot page (an index's last leaf) was copied at each one. 8 MB copies it once.
const CHECKPOINT_PAGES: u32 = 8192;

/// Opens a connection to the database file with the settings every connection needs (WAL is a
/// property of the file, the rest per connection).
pub(super) fn open(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch(&format!("PRAGMA page_size = {PAGE_SIZE}"))?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    conn.execute_batch(&format!(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES};"
    ))?;
    conn.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS);
    Ok(conn)
}

/// Runs one statement with its arguments; `$N` placeholders take the N-th argument. Returns
/// the rows and how many rows it changed.
pub(super) fn run(conn: &Connection, sql: &str, args: &[Arg]) -> Result<(Vec<Row>, u64), StoreError> {
    let mut statement = conn.prepare_cached(&numbered_placeholders(sql))?;
    for index in 1..=statement.parameter_count() {
        let arg = args.get(index - 1).ok_or(StoreError::MissingArgument {
            position: index,
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

/// The statement with PostgreSQL's `$N` placeholders written as SQLite's `?N`, which SQLite
/// binds by position. Given `$N`, SQLite takes it for a name and finds a parameter's name by
/// walking the list of names, so binding a batch statement's hundreds of parameters took time
/// quadratic in their number. Text inside quotes is left alone.
fn numbered_placeholders(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => quoted = !quoted,
            '$' if !quoted && chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push('?');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    Cow::Owned(out)
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

/// Connections for reads: WAL lets them read beside the writer. Taking one never waits: with
/// none idle, another is opened, so code that holds a connection while something else takes
/// one cannot deadlock on the pool. At most `keep` idle ones are kept.
pub(super) struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    keep: usize,
    /// Connections taken and not yet given back.
    in_use: std::sync::atomic::AtomicUsize,
}

/// A read connection taken from the pool; dropped, it goes back.
pub(super) struct PooledConnection {
    conn: Option<Connection>,
    pool: Arc<ReadPool>,
}

impl ReadPool {
    pub(super) fn new(path: PathBuf, keep: usize) -> Arc<Self> {
        Arc::new(Self {
            path,
            idle: Mutex::new(Vec::new()),
            keep,
            in_use: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Connections in use and idle.
    pub(super) fn usage(&self) -> (usize, usize) {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).len();
        (self.in_use.load(std::sync::atomic::Ordering::Relaxed), idle)
    }

    pub(super) fn acquire(self: &Arc<Self>) -> Result<PooledConnection, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open(&self.path)?,
        };
        self.in_use.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(PooledConnection {
            conn: Some(conn),
            pool: self.clone(),
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
        self.pool.in_use.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(conn) = self.conn.take()
            && conn.is_autocommit()
        {
            let mut idle = self.pool.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < self.pool.keep {
                idle.push(conn);
            }
        }
    }
}

/// Makes SQLite commits durable, many at a time. The writer commits with `synchronous = NORMAL`,
/// which appends the transaction to the WAL without waiting for the disk; a committer then waits
/// here for one `fdatasync` of the WAL that covers its commit and every commit before it. The
/// sync runs outside the writer lock, so the next transactions proceed while the disk works, and
/// committers that arrive during a sync share the next one (docs/decisions.md, "A SQLite commit
/// waits for a shared sync of the WAL").
pub(super) struct WalSync {
    path: PathBuf,
    committed: AtomicU64,
    synced: tokio::sync::Mutex<Synced>,
}

#[derive(Default)]
struct Synced {
    upto: u64,
    wal: Option<Arc<File>>,
}

impl WalSync {
    /// For the database at `path`, whose writer keeps the WAL open (SQLite deletes the WAL only
    /// when its last connection closes, so the file this opens stays the live one).
    pub(super) fn new(path: &Path) -> Self {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Self {
            path: PathBuf::from(wal),
            committed: AtomicU64::new(0),
            synced: tokio::sync::Mutex::new(Synced::default()),
        }
    }

    /// Counts a commit; called by the writer right after its `COMMIT`, before it lets go of the
    /// connection, so the number orders commits as the WAL does.
    pub(super) fn committed(&self) -> u64 {
        self.committed.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The number of the last commit counted.
    pub(super) fn latest(&self) -> u64 {
        self.committed.load(Ordering::SeqCst)
    }

    /// Returns once commit number `commit` is on disk.
    pub(super) async fn sync(&self, commit: u64) -> Result<(), StoreError> {
        let mut synced = self.synced.lock().await;
        if synced.upto >= commit {
            return Ok(());
        }
        let upto = self.committed.load(Ordering::SeqCst);
        let wal = match &synced.wal {
            Some(wal) => wal.clone(),
            None => synced.wal.insert(Arc::new(File::open(&self.path)?)).clone(),
        };
        tokio::task::spawn_blocking(move || wal.sync_data())
            .await
            .map_err(|_| StoreError::Closed)??;
        synced.upto = upto;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::numbered_placeholders;

    #[test]
    fn placeholders_become_positional_outside_quotes() {
        assert_eq!(
            numbered_placeholders("SELECT json_extract(data, '$.a$1') FROM t WHERE a = $1 AND b IN ($12, $1)"),
            "SELECT json_extract(data, '$.a$1') FROM t WHERE a = ?1 AND b IN (?12, ?1)"
        );
        assert_eq!(numbered_placeholders("SELECT 1"), "SELECT 1");
    }
}
