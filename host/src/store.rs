//! The database: opening it, migrating it, and the write transactions everything else runs in.
//!
//! SQLite in WAL mode is the embedded default. Every write goes through [`Store::write`], a
//! `BEGIN IMMEDIATE` transaction, so writers queue for the lock up front instead of failing with
//! `SQLITE_BUSY` half-way through.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

/// A write transaction; dropped without commit, it rolls back.
pub type Tx = Transaction<'static, Sqlite>;

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
}

/// The shared handle to the database.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

/// The file name of the SQLite database inside the data directory.
pub const DATABASE_FILE: &str = "stagewright.db";

impl Store {
    /// Opens (creating if needed) the SQLite database in `data_dir` and runs the migrations.
    pub async fn open_sqlite(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let url = format!("sqlite://{}", data_dir.join(DATABASE_FILE).display());
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// The pool, for reads.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Starts a write transaction that holds the write lock from its first statement.
    pub async fn write(&self) -> Result<Tx, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Takes the next id of a per-entity-type sequence inside `tx`.
    pub async fn next_id(tx: &mut Tx, sequence: &str) -> Result<i64, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sequences (name, next_id) VALUES (?, 2)
             ON CONFLICT (name) DO UPDATE SET next_id = next_id + 1
             RETURNING next_id - 1",
        )
        .bind(sequence)
        .fetch_one(&mut **tx)
        .await?;
        Ok(id)
    }
}
