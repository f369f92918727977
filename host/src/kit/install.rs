//! `stagewright plugin install FILE --url URL --token TOKEN`: shows what the plugin is and the
//! capabilities it asks for, asks the admin to confirm, and uploads it to a server's admin API.

use std::io::{BufRead, Write};

use super::KitError;
use super::scratch::ScratchHost;

/// Reviews `wasm` and, once confirmed (or `yes`), uploads it to the server at `url`.
pub async fn install(wasm: &[u8], url: &str, token: &str, yes: bool) -> Result<String, KitError> {
    let host = ScratchHost::start(wasm, &super::compiled_code_cache()).await?;
    let m = host.manifest();
    let mut out = std::io::stdout();
    let mut review = format!("{} {} ({}): {}\nIt asks to:\n", m.id, m.version, m.name, m.description);
    for capability in &m.capabilities {
        review.push_str(&format!("  - {}\n", capability.in_words()));
    }
    if m.capabilities.is_empty() {
        review.push_str("  - nothing beyond its own run\n");
    }
    write!(out, "{review}")
        .and_then(|()| out.flush())
        .map_err(|e| KitError::Invalid(e.to_string()))?;
    if !yes && !confirmed()? {
        return Err(KitError::Invalid(
            "not installed (answer y, or pass --yes to install without asking)".into(),
        ));
    }
    upload(wasm, url, token).await
}

fn confirmed() -> Result<bool, KitError> {
    print!("Install it? [y/N] ");
    std::io::stdout()
        .flush()
        .map_err(|e| KitError::Invalid(e.to_string()))?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| KitError::Invalid(e.to_string()))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

async fn upload(wasm: &[u8], url: &str, token: &str) -> Result<String, KitError> {
    let endpoint = format!("{}/api/v1/plugins", url.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&endpoint)
        .bearer_auth(token)
        .header("Content-Type", "application/wasm")
        .body(wasm.to_vec())
        .send()
        .await
        .map_err(|e| KitError::Invalid(format!("{endpoint}: {e}")))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if status.is_success() {
        Ok(format!(
            "installed {} {} on {url}",
            body["manifest"]["id"].as_str().unwrap_or("?"),
            body["manifest"]["version"].as_str().unwrap_or("?")
        ))
    } else {
        Err(KitError::Invalid(format!(
            "{endpoint} answered {status}: {}",
            body["error_description"].as_str().unwrap_or("no reason given")
        )))
    }
}
