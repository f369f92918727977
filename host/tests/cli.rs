//! The `stagewright serve` command as a user runs it: what it prints works, and its database is
//! in WAL mode.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;
use sqlx::Connection;

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serve_prints_a_working_webhook_url_and_keeps_sqlite_in_wal_mode() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_stagewright"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut webhook = None;
    let mut admin_token = None;
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(token) = line.strip_prefix("Admin token:") {
            admin_token = token.split_whitespace().next().map(str::to_string);
        }
        if let Some(url) = line.strip_prefix("Webhook URL:") {
            webhook = Some(url.trim().to_string());
            break;
        }
    }
    let webhook = webhook.expect("a webhook URL is printed");
    assert!(webhook.starts_with("http://127.0.0.1:") && webhook.contains("/rest/1/") && webhook.ends_with('/'));
    assert_eq!(admin_token.expect("an admin token is printed").len(), 32);

    let client = reqwest::Client::new();
    let added: Value = client
        .post(format!("{webhook}crm.deal.add"))
        .json(&serde_json::json!({"fields": {"TITLE": "From the CLI"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(added["result"], 1);

    let db = data_dir.path().join("stagewright.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let titles: Vec<String> = sqlx::query_scalar("SELECT json_extract(fields, '$.TITLE') FROM items")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(titles, vec!["From the CLI"]);
}
