//! The plugin author's kit behind `stagewright plugin`: start an action from a template
//! ([`new`]), build it into a component ([`build`]), run it in a scratch host against test cases
//! ([`test`]), and upload it to a server once its capabilities were reviewed ([`install`]).
//!
//! The scratch host is the real one: the same runtime, limits and host calls, a temporary SQLite
//! store, and the same code that applies a run's writes, so a plugin that passes here behaves the
//! same on a server.

pub mod build;
pub mod cases;
pub mod install;
pub mod new;
pub mod scratch;
pub mod test;

/// Why a kit command could not do its work, in words that say what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// A tool the command needs is not installed.
    #[error("{tool} is not installed: {install}")]
    MissingTool {
        /// What is missing.
        tool: String,
        /// How to install it.
        install: String,
    },
    /// The command's input cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// A file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        error: std::io::Error,
    },
    /// The build failed; the compiler said why above.
    #[error("the build failed")]
    BuildFailed,
    /// The scratch host could not run the plugin.
    #[error(transparent)]
    Host(#[from] anyhow::Error),
}

/// Where the kit keeps the code it compiled, between runs: `$XDG_CACHE_HOME/stagewright/compiled`,
/// else `~/.cache/stagewright/compiled`, else under the temporary directory. Compiling a large
/// component takes seconds (a Python one is ~19 MB), and an author tests the same build again
/// and again; entries are keyed by the component's hash and the engine's configuration, as on a
/// server.
pub fn compiled_code_cache() -> std::path::PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("stagewright").join("compiled")
}

impl KitError {
    fn io(path: &std::path::Path, error: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            error,
        }
    }
}
