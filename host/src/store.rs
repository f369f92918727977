//! The database: opening it, migrating it, the write transactions everything else runs in, and
//! the one way the host runs a statement ([`query`], [`query_scalar`]).
//!
//! SQLite in WAL mode is the embedded default; PostgreSQL is used when given a `postgres://` URL.
//! SQL is written once for both, with `$N` placeholders and only integer, text, real and blob
//! columns; the few places the dialects differ ask [`Store::backend`]. SQLite statements run on
//! the calling thread through rusqlite ([`sqlite`]); PostgreSQL ones through sqlx ([`postgres`]).
//!
//! Every write goes through [`Store::write`]. On SQLite that is a `BEGIN IMMEDIATE` transaction on
//! the one writer connection: SQLite admits one writer at a time anyway, and writers queueing
//! for that connection in tokio wait without cost, where writers contending for the file lock
//! would sleep in SQLite's busy handler and throttle each other.
//! A commit returns once the transaction is on disk; on SQLite, commits made while the WAL is
//! being synced share the next sync ([`sqlite::WalSync`]). A writer with work to do meanwhile
//! commits with [`Tx::commit_visible`] and waits for the disk later ([`Syncing`]).

mod postgres;
mod sqlite;
mod value;

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

pub use value::{Arg, Bind, ColumnIndex, Decode, Row, Value};

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// PostgreSQL (or a migration's connection) refused or failed a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// SQLite refused or failed a statement.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A migration failed at start-up.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A statement that must return a row returned none.
    #[error("database error: no rows returned by a query that expected to return at least one row")]
    RowNotFound,
    /// A statement read a column it does not return.
    #[error("database error: no column {0} in the row")]
    NoSuchColumn(String),
    /// A column holds a kind of value its reader does not take.
    #[error("database error: column {column} holds {found}, expected {expected}")]
    Decode {
        /// The column.
        column: String,
        /// What the reader takes.
        expected: &'static str,
        /// What the column holds.
        found: &'static str,
    },
    /// A statement uses a placeholder no argument was bound to.
    #[error("database error: placeholder ${position} has no argument ({bound} bound)")]
    MissingArgument {
        /// The placeholder's number.
        position: usize,
        /// How many arguments were bound.
        bound: usize,
    },
    /// The disk did not confirm a commit.
    #[error("database error: the commit could not be made durable: {0}")]
    Sync(#[from] std::io::Error),
    /// The store is shutting down.
    #[error("the database is closed")]
    Closed,
    /// The data directory could not be created.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The database URL names a database this host does not speak.
    #[error("unsupported database URL {0:?}: expected sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
}

/// Which database is behind the store, for the few statements whose dialects differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, embedded, one writer at a time.
    Sqlite,
    /// PostgreSQL, shared by any number of hosts.
    Postgres,
}

impl Backend {
    /// What a claim's row-picking subquery ends with: SQLite runs the statement under its one
    /// write lock; on PostgreSQL, concurrent claimers skip the rows another has locked instead of
    /// queueing behind it.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => "FOR UPDATE SKIP LOCKED",
        }
    }
}

/// The shared handle to the database.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    writer: Writer,
}

#[derive(Clone)]
enum Writer {
    Sqlite {
        conn: Arc<Mutex<rusqlite::Connection>>,
        wal: Arc<sqlite::WalSync>,
    },
    Postgres(PgPool),
}

/// Connections for reads.
#[derive(Clone)]
pub struct Pool(PoolKind);

#[derive(Clone)]
enum PoolKind {
    /// The read connections, and the writer's, lent by [`Pool::acquire_quick`].
    Sqlite(Arc<sqlite::ReadPool>, Arc<Mutex<rusqlite::Connection>>),
    Postgres(PgPool),
}

/// A database connection: one taken from the pool for reads, or the one a write transaction
/// holds ([`Tx`] dereferences to it, so code that only reads takes either).
pub struct Conn(ConnKind);

enum ConnKind {
    Sqlite(sqlite::PooledConnection),
    SqliteWriter(OwnedMutexGuard<rusqlite::Connection>),
    Postgres(PoolConnection<Postgres>),
    PostgresTx(Transaction<'static, Postgres>),
    /// What a committed or rolled-back transaction leaves behind.
    Ended,
}

/// A write transaction; dropped without commit, it rolls back.
pub struct Tx {
    conn: Conn,
    /// On SQLite, where commits are counted and synced, and the writer's count of changed rows
    /// when the transaction began (a commit that changed none has nothing to sync).
    wal: Option<(Arc<sqlite::WalSync>, u64)>,
    /// Whether the commit returns only once it is on disk.
    synced: bool,
}

/// A committed transaction on its way to disk. Others already see its writes; a crash before
/// [`Self::on_disk`] returns may lose it, and with it every later commit (the WAL keeps them in
/// order). So what a writer does meanwhile must be lost with it or done again: the host's own
/// writes are, and nothing leaves the host before what caused it is on disk
/// ([`Store::settle`], called before outbound HTTP; the mailer's claim is a durable commit).
#[must_use = "the commit is durable only once `on_disk` returns"]
pub struct Syncing(Option<(Arc<sqlite::WalSync>, u64)>);

impl Syncing {
    /// A commit that was on disk when it returned.
    pub fn done() -> Self {
        Self(None)
    }

    /// Returns once the commit is on disk (at once on PostgreSQL, whose commit is).
    pub async fn on_disk(self) -> Result<(), StoreError> {
        match self.0 {
            Some((wal, commit)) => wal.sync(commit).await,
            None => Ok(()),
        }
    }
}

/// The file name of the SQLite database inside the data directory.
pub const DATABASE_FILE: &str = "stagewright.db";

/// Idle read connections a SQLite store keeps open.
const SQLITE_IDLE_READERS: usize = 8;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// PostgreSQL pool settings. A connection is not pinged when taken from the pool: the ping is a
/// round trip to the server on every acquire (a third of the scheduler's own CPU in the drain
/// benchmark). A connection the server has closed fails its next statement instead, which callers
/// already treat as a transient database error (the scheduler retries the run), and the pool
/// then replaces it.
fn postgres_pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(30))
        .test_before_acquire(false)
        .max_connections(16)
}

impl Store {
    /// Opens (creating if needed) the SQLite database in `data_dir` and runs the migrations.
    pub async fn open_sqlite(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        Self::open(&format!("sqlite://{}", data_dir.join(DATABASE_FILE).display())).await
    }

    /// Opens the database at `url` (`sqlite://PATH` or `postgres://...`) and runs the migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            return Self::open_sqlite_file(PathBuf::from(path.split('?').next().unwrap_or(path))).await;
        }
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        }
        let pool = postgres_pool_options().connect(url).await?;
        POSTGRES_MIGRATIONS.run(&pool).await?;
        Ok(Self {
            pool: Pool(PoolKind::Postgres(pool.clone())),
            writer: Writer::Postgres(pool),
        })
    }

    async fn open_sqlite_file(path: PathBuf) -> Result<Self, StoreError> {
        let writer = Arc::new(Mutex::new(sqlite::open(&path)?));
        // sqlx's SQLite driver runs the migrations; the store's own statements go through
        // rusqlite.
        let migrations = SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&format!("sqlite://{}", path.display()))
            .await?;
        SQLITE_MIGRATIONS.run(&migrations).await?;
        migrations.close().await;
        Ok(Self {
            pool: Pool(PoolKind::Sqlite(
                sqlite::ReadPool::new(path.clone(), SQLITE_IDLE_READERS),
                writer.clone(),
            )),
            writer: Writer::Sqlite {
                conn: writer,
                wal: Arc::new(sqlite::WalSync::new(&path)),
            },
        })
    }

    /// The pool, for reads.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.pool.backend()
    }

    /// Starts a write transaction, whose commit returns once it is on disk; on SQLite it holds
    /// the write lock from its first statement.
    pub async fn write(&self) -> Result<Tx, StoreError> {
        Ok(match &self.writer {
            Writer::Sqlite { conn, wal } => {
                let conn = begin_sqlite(conn).await?;
                let changes = conn.total_changes();
                Tx {
                    conn: Conn(ConnKind::SqliteWriter(conn)),
                    wal: Some((wal.clone(), changes)),
                    synced: true,
                }
            }
            Writer::Postgres(pool) => Tx {
                conn: Conn(ConnKind::PostgresTx(pool.begin().await?)),
                wal: None,
                synced: true,
            },
        })
    }

    /// Starts a write transaction whose commit does not wait for the disk, for writes nothing
    /// durable depends on until a later commit: claims of robot runs and id reservations. A
    /// database keeps commits in order, so a later durable commit puts this one on disk too, and
    /// one a crash loses was used by no commit that survived. A claim lost is claimed again (the
    /// worker that held it cannot commit the run's end, fenced by the attempt the claim counted);
    /// an id lost is handed out again.
    pub async fn write_unsynced(&self) -> Result<Tx, StoreError> {
        let mut tx = self.write().await?;
        tx.synced = false;
        if self.backend() == Backend::Postgres {
            query("SET LOCAL synchronous_commit = off").execute(&mut tx).await?;
        }
        Ok(tx)
    }

    /// Returns once every durable commit made so far is on disk: the barrier before anything
    /// leaves the host, since the commit that caused it may still be on its way ([`Syncing`]).
    pub async fn settle(&self) -> Result<(), StoreError> {
        match &self.writer {
            Writer::Sqlite { wal, .. } => wal.sync(wal.latest()).await,
            Writer::Postgres(_) => Ok(()),
        }
    }

    /// Reserves the next id of a named sequence for a write that a later transaction makes (a
    /// plugin's comment, task or notification, written when its run ends); see
    /// [`Self::write_unsynced`] for why the reservation need not wait for the disk.
    pub async fn reserve_id(&self, sequence: &str) -> Result<i64, StoreError> {
        let mut tx = self.write_unsynced().await?;
        let id = Self::next_id(&mut tx, sequence).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Takes the next id of a named sequence inside `tx`. On PostgreSQL `take_id()` hands out
    /// the busiest ones from native sequences, which lock nothing until the commit (migration
    /// 0021); on SQLite the one writer makes the counter row no bottleneck.
    pub async fn next_id(tx: &mut Tx, sequence: &str) -> Result<i64, StoreError> {
        let sql = match tx.backend() {
            Backend::Postgres => "SELECT take_id($1)",
            Backend::Sqlite => {
                "INSERT INTO sequences (name, next_id) VALUES ($1, 2)
                 ON CONFLICT (name) DO UPDATE SET next_id = sequences.next_id + 1
                 RETURNING next_id - 1"
            }
        };
        query_scalar(sql).bind(sequence).fetch_one(tx).await
    }

    /// Makes a counter kept in its row hand out ids after `id` only, for a row inserted under an
    /// id of its own (a configuration import keeps a file's pipeline ids).
    pub async fn skip_ids_through(tx: &mut Tx, sequence: &str, id: i64) -> Result<(), StoreError> {
        let larger = match tx.backend() {
            Backend::Postgres => "GREATEST",
            Backend::Sqlite => "MAX",
        };
        query(&format!(
            "INSERT INTO sequences (name, next_id) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET next_id = {larger}(sequences.next_id, excluded.next_id)"
        ))
        .bind(sequence)
        .bind(id + 1)
        .execute(tx)
        .await?;
        Ok(())
    }

    /// After a row was inserted into `table` under an id of its own, makes the table's generated
    /// ids continue after its largest (PostgreSQL's identity columns do not look; SQLite's
    /// AUTOINCREMENT does by itself).
    pub async fn ids_after_explicit_insert(tx: &mut Tx, table: &str) -> Result<(), StoreError> {
        if tx.backend() == Backend::Postgres {
            query(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
            ))
            .execute(tx)
            .await?;
        }
        Ok(())
    }

    /// Gives a counter that many writers take from at once a native sequence of its own on
    /// PostgreSQL, where [`Self::next_id`] then takes from it (migration 0024); it starts where
    /// the counter's row left off. SQLite keeps every counter in its row.
    pub async fn add_native_sequence(tx: &mut Tx, sequence: &str) -> Result<(), StoreError> {
        if tx.backend() == Backend::Postgres {
            query("SELECT add_id_sequence($1)").bind(sequence).execute(tx).await?;
        }
        Ok(())
    }
}

/// Takes the SQLite writer connection and begins a transaction on it.
async fn begin_sqlite(
    conn: &Arc<Mutex<rusqlite::Connection>>,
) -> Result<OwnedMutexGuard<rusqlite::Connection>, StoreError> {
    let conn = conn.clone().lock_owned().await;
    if !conn.is_autocommit() {
        // A transaction whose rollback failed when it was dropped.
        conn.execute_batch("ROLLBACK")?;
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    Ok(conn)
}

impl Pool {
    /// Takes a connection; it goes back when dropped.
    pub async fn acquire(&self) -> Result<Conn, StoreError> {
        Ok(Conn(match &self.0 {
            PoolKind::Sqlite(pool, _) => ConnKind::Sqlite(pool.acquire()?),
            PoolKind::Postgres(pool) => ConnKind::Postgres(pool.acquire().await?),
        }))
    }

    /// Takes a connection for a few reads the holder makes before it awaits anything else. On
    /// SQLite that is the writer connection when no transaction holds it: its page cache stays
    /// warm across its own commits, where a read connection's is emptied by every commit and its
    /// first reads after one go to the file (a sandboxed robot's reads, right after the commit
    /// that made it due, took ~30 µs longer per run that way). Holding it keeps writers waiting,
    /// so the holder must not await a write, or anything that waits for one, before dropping it.
    pub async fn acquire_quick(&self) -> Result<Conn, StoreError> {
        if let PoolKind::Sqlite(_, writer) = &self.0
            && let Ok(writer) = writer.clone().try_lock_owned()
            && writer.is_autocommit()
        {
            return Ok(Conn(ConnKind::SqliteWriter(writer)));
        }
        self.acquire().await
    }

    /// Read connections in use and idle (on SQLite the writer is not among them).
    pub fn usage(&self) -> (usize, usize) {
        match &self.0 {
            PoolKind::Sqlite(reads, _) => reads.usage(),
            PoolKind::Postgres(pool) => {
                let idle = pool.num_idle();
                (usize::try_from(pool.size()).unwrap_or(0).saturating_sub(idle), idle)
            }
        }
    }

    fn backend(&self) -> Backend {
        match self.0 {
            PoolKind::Sqlite(..) => Backend::Sqlite,
            PoolKind::Postgres(_) => Backend::Postgres,
        }
    }
}

impl Conn {
    /// Which database this connection talks to.
    pub fn backend(&self) -> Backend {
        match self.0 {
            ConnKind::Sqlite(_) | ConnKind::SqliteWriter(_) | ConnKind::Ended => Backend::Sqlite,
            ConnKind::Postgres(_) | ConnKind::PostgresTx(_) => Backend::Postgres,
        }
    }

    async fn run(&mut self, sql: &str, args: &[Arg], rows: bool) -> Result<(Vec<Row>, u64), StoreError> {
        match &mut self.0 {
            ConnKind::Sqlite(conn) => sqlite::run(conn.connection(), sql, args),
            ConnKind::SqliteWriter(conn) => sqlite::run(conn, sql, args),
            ConnKind::Postgres(conn) => postgres::run(conn, sql, args, rows).await,
            ConnKind::PostgresTx(tx) => postgres::run(tx, sql, args, rows).await,
            ConnKind::Ended => Err(StoreError::Closed),
        }
    }
}

impl Tx {
    /// Makes the transaction's writes visible and (unless it was begun unsynced) durable.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.commit_visible().await?.on_disk().await
    }

    /// Makes the transaction's writes visible and returns before they are on disk, for a writer
    /// with work to do meanwhile (running the next robot of a chain, waking the scheduler): the
    /// sync runs while it does. See [`Syncing`] for what may happen before [`Syncing::on_disk`].
    pub async fn commit_visible(mut self) -> Result<Syncing, StoreError> {
        match std::mem::replace(&mut self.conn.0, ConnKind::Ended) {
            ConnKind::SqliteWriter(conn) => {
                if let Err(e) = conn.execute_batch("COMMIT") {
                    // A COMMIT that failed may leave the transaction open; it must not outlive us.
                    let _ = conn.execute_batch("ROLLBACK");
                    return Err(e.into());
                }
                let Some((wal, changes_at_begin)) = self.wal.take() else {
                    return Ok(Syncing(None));
                };
                if conn.total_changes() == changes_at_begin || !self.synced {
                    return Ok(Syncing(None));
                }
                let commit = wal.committed();
                Ok(Syncing(Some((wal, commit))))
            }
            ConnKind::PostgresTx(tx) => {
                tx.commit().await?;
                Ok(Syncing(None))
            }
            _ => Err(StoreError::Closed),
        }
    }

    /// Makes a transaction begun with [`Store::write_unsynced`] durable after all, because it
    /// came to hold writes that must reach the disk (the runs of a chain slice, claimed in it).
    pub async fn make_durable(&mut self) -> Result<(), StoreError> {
        if self.synced {
            return Ok(());
        }
        self.synced = true;
        if self.backend() == Backend::Postgres {
            query("SET LOCAL synchronous_commit = on").execute(&mut *self).await?;
        }
        Ok(())
    }

    /// Lets the rest of the transaction run its statements on generic plans (PostgreSQL; SQLite
    /// plans a statement once anyway). For transactions that run the same statements over and
    /// over, the scheduler's: PostgreSQL would otherwise plan most executions anew (a tenth of
    /// its CPU in the drain benchmark) and arrive at the same plan.
    pub async fn use_generic_plans(&mut self) -> Result<(), StoreError> {
        if self.backend() == Backend::Postgres {
            query("SET LOCAL plan_cache_mode = force_generic_plan")
                .execute(&mut *self)
                .await?;
        }
        Ok(())
    }

    /// Drops the transaction's writes.
    pub async fn rollback(mut self) -> Result<(), StoreError> {
        match std::mem::replace(&mut self.conn.0, ConnKind::Ended) {
            ConnKind::SqliteWriter(conn) => Ok(conn.execute_batch("ROLLBACK")?),
            ConnKind::PostgresTx(tx) => Ok(tx.rollback().await?),
            _ => Err(StoreError::Closed),
        }
    }
}

impl std::ops::Deref for Tx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.conn
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if let ConnKind::SqliteWriter(conn) = &self.conn.0 {
            // Dropped without an end: undo. Should even this fail, the next write rolls back first.
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
}

/// Where a statement runs: in a write transaction, on a held connection, or on any connection
/// of the pool.
pub enum Executor<'c> {
    /// Inside a write transaction.
    Tx(&'c mut Tx),
    /// On a connection held for several reads.
    Conn(&'c mut Conn),
    /// On a connection taken from the pool for this one statement.
    Pool(&'c Pool),
}

impl<'c> From<&'c mut Tx> for Executor<'c> {
    fn from(tx: &'c mut Tx) -> Self {
        Self::Tx(tx)
    }
}

impl<'c> From<&'c mut Conn> for Executor<'c> {
    fn from(conn: &'c mut Conn) -> Self {
        Self::Conn(conn)
    }
}

impl<'c> From<&'c Pool> for Executor<'c> {
    fn from(pool: &'c Pool) -> Self {
        Self::Pool(pool)
    }
}

impl Executor<'_> {
    async fn run(self, sql: &str, args: &[Arg], rows: bool) -> Result<(Vec<Row>, u64), StoreError> {
        match self {
            Self::Tx(tx) => tx.conn.run(sql, args, rows).await,
            Self::Conn(conn) => conn.run(sql, args, rows).await,
            Self::Pool(pool) => pool.acquire().await?.run(sql, args, rows).await,
        }
    }
}

/// A statement with its arguments, not yet run.
#[must_use = "a query does nothing until it is run"]
pub struct Query<'q> {
    sql: &'q str,
    args: Vec<Arg>,
}

/// A statement whose rows are read as one value each (their first column).
#[must_use = "a query does nothing until it is run"]
pub struct QueryScalar<'q, T> {
    query: Query<'q>,
    value: PhantomData<T>,
}

/// The effect of a statement run for its writes.
#[derive(Debug, Clone, Copy)]
pub struct Executed {
    rows_affected: u64,
}

impl Executed {
    /// How many rows the statement inserted, changed or deleted.
    pub fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

/// A statement; `$N` placeholders take the arguments bound in order.
pub fn query(sql: &str) -> Query<'_> {
    Query { sql, args: Vec::new() }
}

/// A statement read for the first column of its rows.
pub fn query_scalar<T: Decode>(sql: &str) -> QueryScalar<'_, T> {
    QueryScalar {
        query: query(sql),
        value: PhantomData,
    }
}

impl<'q> Query<'q> {
    /// A statement with arguments bound already (built by code that assembles SQL).
    pub fn with_args(sql: &'q str, args: Vec<Arg>) -> Self {
        Self { sql, args }
    }

    /// Binds the next placeholder.
    pub fn bind(mut self, value: impl Bind) -> Self {
        self.args.push(value.into_arg());
        self
    }

    /// Runs the statement for its writes.
    pub async fn execute<'c>(self, db: impl Into<Executor<'c>>) -> Result<Executed, StoreError> {
        let (_, rows_affected) = db.into().run(self.sql, &self.args, false).await?;
        Ok(Executed { rows_affected })
    }

    /// Runs the statement and returns every row.
    pub async fn fetch_all<'c>(self, db: impl Into<Executor<'c>>) -> Result<Vec<Row>, StoreError> {
        Ok(db.into().run(self.sql, &self.args, true).await?.0)
    }

    /// Runs the statement and returns its first row, if any.
    pub async fn fetch_optional<'c>(self, db: impl Into<Executor<'c>>) -> Result<Option<Row>, StoreError> {
        Ok(self.fetch_all(db).await?.into_iter().next())
    }

    /// Runs the statement and returns its first row; none is an error.
    pub async fn fetch_one<'c>(self, db: impl Into<Executor<'c>>) -> Result<Row, StoreError> {
        self.fetch_optional(db).await?.ok_or(StoreError::RowNotFound)
    }
}

impl<'q, T: Decode> QueryScalar<'q, T> {
    /// Binds the next placeholder.
    pub fn bind(self, value: impl Bind) -> Self {
        Self {
            query: self.query.bind(value),
            value: PhantomData,
        }
    }

    /// Runs the statement and returns each row's value.
    pub async fn fetch_all<'c>(self, db: impl Into<Executor<'c>>) -> Result<Vec<T>, StoreError> {
        self.query.fetch_all(db).await?.iter().map(Row::first).collect()
    }

    /// Runs the statement and returns the first row's value, if there is a row.
    pub async fn fetch_optional<'c>(self, db: impl Into<Executor<'c>>) -> Result<Option<T>, StoreError> {
        self.query.fetch_optional(db).await?.map(|row| row.first()).transpose()
    }

    /// Runs the statement and returns the first row's value; no row is an error.
    pub async fn fetch_one<'c>(self, db: impl Into<Executor<'c>>) -> Result<T, StoreError> {
        self.query.fetch_one(db).await?.first()
    }
}

/// A ` WHERE column = $n AND …` clause for the filters that are given (empty when none is), and
/// their values in bind order. Leaving an absent filter out of the text, instead of writing
/// `($1 IS NULL OR column = $1)`, lets PostgreSQL keep one plan per shape: it replanned the
/// `IS NULL OR` form on every call, because its generic plan never looks cheaper.
pub fn equal_filters(filters: &[(&str, Option<&str>)]) -> (String, Vec<Arg>) {
    let given: Vec<(&str, &str)> = filters.iter().filter_map(|(c, v)| v.map(|v| (*c, v))).collect();
    if given.is_empty() {
        return (String::new(), Vec::new());
    }
    let conditions: Vec<String> = given
        .iter()
        .enumerate()
        .map(|(i, (column, _))| format!("{column} = ${}", i + 1))
        .collect();
    let args = given.into_iter().map(|(_, v)| v.into_arg()).collect();
    (format!(" WHERE {}", conditions.join(" AND ")), args)
}

/// `count` numbered placeholders from `$first` on (`$2, $3, $4`), for a statement that binds a
/// list: its text then depends only on the list's length, so the prepared statement is reused.
pub fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_filters_name_only_the_given_columns() {
        let (none, args) = equal_filters(&[("a", None), ("b", None)]);
        assert_eq!((none.as_str(), args.len()), ("", 0));
        let (one, args) = equal_filters(&[("a", None), ("b", Some("x"))]);
        assert_eq!((one.as_str(), args.len()), (" WHERE b = $1", 1));
        let (two, args) = equal_filters(&[("a", Some("x")), ("b", Some("y"))]);
        assert_eq!((two.as_str(), args.len()), (" WHERE a = $1 AND b = $2", 2));
    }
}
