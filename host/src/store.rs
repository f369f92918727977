//! The database: opening it, migrating it, and the write transactions everything else runs in.
//!
//! SQLite in WAL mode is the embedded default; PostgreSQL is used when given a `postgres://` URL.
//! Both sit behind sqlx's `Any` driver so the rest of the host has one code path: SQL is written
//! with `$N` placeholders (both backends accept them) and only integer, text, real and blob
//! columns. The few places the dialects differ ask [`Store::backend`].
//!
//! Every write goes through [`Store::write`]. On SQLite that is a `BEGIN IMMEDIATE` transaction,
//! so writers queue for the lock up front instead of failing with `SQLITE_BUSY` half-way through.

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

/// The shared handle to the database.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
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
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        let pool = match backend {
            Backend::Sqlite => {
                options
                    .max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            for pragma in SQLITE_PRAGMAS {
                                conn.execute(pragma).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?
            }
            Backend::Postgres => options.max_connections(16).connect(url).await?,
        };
        let migrations = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrations.run(&pool).await?;
        Ok(Self { pool, backend })
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
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
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

/// Which database a connection talks to, for code that holds a connection but not the store.
pub fn backend_of(conn: &AnyConnection) -> Backend {
    if conn.backend_name() == "PostgreSQL" {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}
