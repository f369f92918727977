//! Backups of the embedded SQLite database: `stagewright backup` copies it consistently while the
//! host serves (`VACUUM INTO` reads one snapshot, as any reader does in WAL mode), and
//! `stagewright restore` puts a copy in place while no host uses it. PostgreSQL is backed up with
//! its own tools (`pg_dump`), as the README shows.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::store::DATABASE_FILE;

/// Why a backup or restore was refused.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// There is no database where one was expected.
    #[error("{0} holds no Stagewright database")]
    NoDatabase(PathBuf),
    /// The target file is there already; a backup never overwrites.
    #[error("{0} exists already; choose a new file")]
    Exists(PathBuf),
    /// A host is using the database a restore would replace.
    #[error("the database in {0} is in use: stop the host first")]
    InUse(PathBuf),
    /// The file to restore is not a sound Stagewright database.
    #[error("{path} is not a Stagewright backup: {why}")]
    NotABackup {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A file could not be written or moved.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Writes a consistent copy of the data directory's database to `to`; returns its size in bytes.
pub fn backup(data_dir: &Path, to: &Path) -> Result<u64, BackupError> {
    let database = data_dir.join(DATABASE_FILE);
    if !database.is_file() {
        return Err(BackupError::NoDatabase(data_dir.to_path_buf()));
    }
    if to.exists() {
        return Err(BackupError::Exists(to.to_path_buf()));
    }
    let source = Connection::open_with_flags(&database, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    source.busy_timeout(Duration::from_secs(30))?;
    let target = to.to_str().ok_or_else(|| BackupError::Exists(to.to_path_buf()))?;
    source.execute("VACUUM INTO ?1", [target])?;
    Ok(std::fs::metadata(to)?.len())
}

/// Replaces the data directory's database with the backup `from`, after checking that it is a
/// sound Stagewright database and that no host uses the current one.
pub fn restore(data_dir: &Path, from: &Path) -> Result<(), BackupError> {
    check_backup(from)?;
    std::fs::create_dir_all(data_dir)?;
    let database = data_dir.join(DATABASE_FILE);
    if database.exists() {
        let current = Connection::open(&database)?;
        current.busy_timeout(Duration::ZERO)?;
        // A host holds the database open in WAL mode; an exclusive lock tells whether one does.
        current
            .execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;")
            .map_err(|_| BackupError::InUse(data_dir.to_path_buf()))?;
        drop(current);
    }
    let staged = data_dir.join(format!("{DATABASE_FILE}.restoring"));
    std::fs::copy(from, &staged)?;
    for stale in ["-wal", "-shm"] {
        let path = data_dir.join(format!("{DATABASE_FILE}{stale}"));
        if path.exists() {
            std::fs::remove_file(path)?;
        }
    }
    std::fs::rename(&staged, &database)?;
    Ok(())
}

/// A backup must pass SQLite's integrity check and hold Stagewright's tables.
fn check_backup(path: &Path) -> Result<(), BackupError> {
    let not_a_backup = |why: String| BackupError::NotABackup {
        path: path.to_path_buf(),
        why,
    };
    if !path.is_file() {
        return Err(not_a_backup("no such file".into()));
    }
    // Immutable: read as a plain file, with no locks and no WAL files created beside it.
    let uri = format!("file:{}?immutable=1", path.display());
    let backup = Connection::open_with_flags(uri, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI)
        .map_err(|e| not_a_backup(e.to_string()))?;
    let integrity: String = backup
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(|e| not_a_backup(e.to_string()))?;
    if integrity != "ok" {
        return Err(not_a_backup(integrity));
    }
    let tables: i64 = backup
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('items', 'runs', '_sqlx_migrations')",
            [],
            |row| row.get(0),
        )
        .map_err(|e| not_a_backup(e.to_string()))?;
    if tables != 3 {
        return Err(not_a_backup("it lacks Stagewright's tables".into()));
    }
    Ok(())
}
