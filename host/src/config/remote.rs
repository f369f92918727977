//! The command line's side of configuration files: `stagewright config export` and `import`
//! talk to a server's admin API, so they work the same against SQLite and PostgreSQL, and while
//! the server serves.

use std::path::Path;

use serde_json::Value;

use super::{ChangeAction, ImportReport};

/// Why a `config` command failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The server could not be reached, or the file read or written.
    #[error("{0}")]
    Io(String),
    /// The server refused.
    #[error("{endpoint} answered {status}: {reason}")]
    Refused {
        /// What was called.
        endpoint: String,
        /// Its HTTP status.
        status: u16,
        /// Its `error_description`.
        reason: String,
    },
}

/// Fetches the configuration of the server at `url` and writes it to `to` (standard output
/// when `None`), pretty-printed with a final newline so it diffs well in git.
pub async fn export(url: &str, token: &str, components: bool, to: Option<&Path>) -> Result<(), RemoteError> {
    let endpoint = format!("{}/api/v1/config?components={components}", url.trim_end_matches('/'));
    let request = reqwest::Client::new().get(&endpoint).bearer_auth(token);
    let file = answer(&endpoint, request).await?;
    let mut text = serde_json::to_string_pretty(&file).map_err(|e| RemoteError::Io(e.to_string()))?;
    text.push('\n');
    match to {
        Some(path) => std::fs::write(path, text).map_err(|e| RemoteError::Io(format!("{}: {e}", path.display()))),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// Sends the file at `from` to the server at `url` for import and answers the report in words,
/// a line per change.
pub async fn import(url: &str, token: &str, from: &Path, dry_run: bool) -> Result<String, RemoteError> {
    let body = std::fs::read(from).map_err(|e| RemoteError::Io(format!("{}: {e}", from.display())))?;
    let endpoint = format!("{}/api/v1/config/import?dry_run={dry_run}", url.trim_end_matches('/'));
    let request = reqwest::Client::new()
        .post(&endpoint)
        .bearer_auth(token)
        .header("Content-Type", "application/json")
        .body(body);
    let report: ImportReport = from_answer(answer(&endpoint, request).await?)?;
    Ok(in_words(&report))
}

/// The report as an admin reads it: "added robot r_… (Welcome email)", then the count of
/// entries that were already right.
pub fn in_words(report: &ImportReport) -> String {
    let mut out = String::new();
    let verb = |action: ChangeAction| match (action, report.dry_run) {
        (ChangeAction::Added, false) => "added",
        (ChangeAction::Updated, false) => "updated",
        (ChangeAction::Deleted, false) => "deleted",
        (ChangeAction::Added, true) => "would add",
        (ChangeAction::Updated, true) => "would update",
        (ChangeAction::Deleted, true) => "would delete",
    };
    for change in &report.changes {
        out.push_str(&format!(
            "{} {} {} ({})\n",
            verb(change.action),
            change.kind,
            change.key,
            change.name
        ));
    }
    out.push_str(&format!(
        "{} changed, {} already as the file says{}",
        report.changes.len(),
        report.unchanged,
        if report.dry_run {
            " (dry run: nothing was changed)"
        } else {
            ""
        }
    ));
    out
}

fn from_answer<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, RemoteError> {
    serde_json::from_value(body).map_err(|e| RemoteError::Io(format!("the server's answer is not a report: {e}")))
}

/// Sends a request and answers its JSON body, or the server's refusal.
async fn answer(endpoint: &str, request: reqwest::RequestBuilder) -> Result<Value, RemoteError> {
    let response = request
        .send()
        .await
        .map_err(|e| RemoteError::Io(format!("{endpoint}: {e}")))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| RemoteError::Io(format!("{endpoint}: {e}")))?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(RemoteError::Refused {
            endpoint: endpoint.into(),
            status: status.as_u16(),
            reason: body["error_description"].as_str().unwrap_or("no reason given").into(),
        })
    }
}
