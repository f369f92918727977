//! The database: opening it, migrating it, and the write transactions everything else runs in.
//!
//! SQLite in WAL mode is the embedded default; PostgreSQL is used when given a `postgres://` URL.
//! Both sit behind sqlx's `Any` driver so the rest of the host has one code path: SQL is written
//! with `$N` placeholders (both backends accept them) and only integer, text, real and blob
//! columns. The few places the dialects differ ask [`Store::backend`].
//!
//! Every write goes through [`Store::write`]. On SQLite that is a `BEGIN IMMEDIATE` transaction on
//! the one writer connection: SQLite admits one writer at a time anyway, and writers queueing
//! for that connection in tokio wait without cost, where writers contending for the file lock
//! would sleep in SQLite's busy handler and throttle each other.

use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyConnection, AnyPool, Executor, Transaction};

/// A write transaction; dropped without commit, it rolls back.
pub type Tx = Transaction<'static, Any>;

/// A database connection, for reads.
pub type Conn = AnyConnection;

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed at start-up.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
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
    pool: AnyPool,
    writer: AnyPool,
    backend: Backend,
}

/// The file name of the SQLite database inside the data directory.
pub const DATABASE_FILE: &str = "stagewright.db";

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Settings every SQLite connection needs; WAL is a property of the file, the rest per connection.
const SQLITE_PRAGMAS: [&str; 4] = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 10000",
];

fn pool_options() -> AnyPoolOptions {
    AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30))
}

/// A pool of SQLite connections, each set up with [`SQLITE_PRAGMAS`].
fn sqlite_pool(connections: u32) -> AnyPoolOptions {
    pool_options()
        .max_connections(connections)
        .test_before_acquire(false)
        .after_connect(|conn, _| {
            Box::pin(async move {
                for pragma in SQLITE_PRAGMAS {
                    conn.execute(pragma).await?;
                }
                Ok(())
            })
        })
}

impl Store {
    /// Opens (creating if needed) the SQLite database in `data_dir` and runs the migrations.
    pub async fn open_sqlite(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        Self::open(&format!("sqlite://{}?mode=rwc", data_dir.join(DATABASE_FILE).display())).await
    }

    /// Opens the database at `url` (`sqlite://PATH` or `postgres://...`) and runs the migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                let writer = sqlite_pool(1).connect(url).await?;
                SQLITE_MIGRATIONS.run(&writer).await?;
                (sqlite_pool(8).connect(url).await?, writer)
            }
            Backend::Postgres => {
                let pool = pool_options().max_connections(16).connect(url).await?;
                POSTGRES_MIGRATIONS.run(&pool).await?;
                (pool.clone(), pool)
            }
        };
        Ok(Self { pool, writer, backend })
    }

    /// The pool, for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction; on SQLite it holds the write lock from its first statement.
    pub async fn write(&self) -> Result<Tx, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        })
    }

    /// Starts a write transaction that only takes leases (claims of robot runs): its commit
    /// need not wait for the disk. A claim a crash loses is claimed again, and the worker that
    /// held it cannot commit the run's end, which is fenced by the attempt the claim counted;
    /// any later durable commit makes it durable too. On SQLite every commit is already like
    /// this (WAL with `synchronous = NORMAL`).
    pub async fn write_lease(&self) -> Result<Tx, StoreError> {
        let mut tx = self.write().await?;
        if self.backend == Backend::Postgres {
            tx.execute("SET LOCAL synchronous_commit = off").await?;
        }
        Ok(tx)
    }

    /// Takes the next id of a named sequence inside `tx`.
    pub async fn next_id(tx: &mut Tx, sequence: &str) -> Result<i64, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sequences (name, next_id) VALUES ($1, 2)
             ON CONFLICT (name) DO UPDATE SET next_id = sequences.next_id + 1
             RETURNING next_id - 1",
        )
        .bind(sequence)
        .fetch_one(&mut **tx)
        .await?;
        Ok(id)
    }
}

/// `count` numbered placeholders from `$first` on (`$2, $3, $4`), for a statement that binds a
/// list: its text then depends only on the list's length, so the prepared statement is reused.
pub fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which database a connection talks to, for code that holds a connection but not the store.
pub fn backend_of(conn: &AnyConnection) -> Backend {
    if conn.backend_name() == "PostgreSQL" {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}
