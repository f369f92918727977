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
    let base = webhook.split("/rest/").next().unwrap();
    for (probe, status) in [("healthz", "ok"), ("readyz", "ready")] {
        let answer = client.get(format!("{base}/{probe}")).send().await.unwrap();
        assert_eq!(answer.status(), 200, "/{probe} needs no token");
        assert_eq!(answer.json::<Value>().await.unwrap()["status"], status);
    }
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

/// `stagewright serve` on `data_dir`, with its webhook URL once it listens.
fn serve(data_dir: &std::path::Path) -> (Child, String) {
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_stagewright"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let webhook = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("Webhook URL:").map(|url| url.trim().to_string()))
        .expect("a webhook URL is printed");
    (child, webhook)
}

fn stagewright(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stagewright"))
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_into_a_new_data_directory() {
    let client = reqwest::Client::new();
    let (served, restored) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (host, webhook) = serve(served.path());
    for title in ["Before the backup", "Also before"] {
        let added: Value = client
            .post(format!("{webhook}crm.deal.add"))
            .json(&serde_json::json!({"fields": {"TITLE": title}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(added["result"].is_i64(), "{added}");
    }
    let file = served.path().join("backup.db");
    let data_dir = served.path().to_str().unwrap();
    let backup = stagewright(&["backup", "--data-dir", data_dir, "--to", file.to_str().unwrap()]);
    assert!(backup.status.success(), "{}", String::from_utf8_lossy(&backup.stderr));
    let again = stagewright(&["backup", "--data-dir", data_dir, "--to", file.to_str().unwrap()]);
    assert!(!again.status.success(), "a backup never overwrites a file");
    client
        .post(format!("{webhook}crm.deal.add"))
        .json(&serde_json::json!({"fields": {"TITLE": "After the backup"}}))
        .send()
        .await
        .unwrap();

    let in_use = stagewright(&["restore", "--data-dir", data_dir, "--from", file.to_str().unwrap()]);
    assert!(
        !in_use.status.success(),
        "a database a host serves from is not replaced"
    );
    assert!(String::from_utf8_lossy(&in_use.stderr).contains("in use"), "{in_use:?}");
    drop(host);

    let not_a_backup = served.path().join("notes.txt");
    std::fs::write(&not_a_backup, "not a database").unwrap();
    let refused = stagewright(&[
        "restore",
        "--data-dir",
        restored.path().to_str().unwrap(),
        "--from",
        not_a_backup.to_str().unwrap(),
    ]);
    assert!(!refused.status.success(), "only a Stagewright database is restored");

    let restore = stagewright(&[
        "restore",
        "--data-dir",
        restored.path().to_str().unwrap(),
        "--from",
        file.to_str().unwrap(),
    ]);
    assert!(restore.status.success(), "{}", String::from_utf8_lossy(&restore.stderr));
    let (_restored_host, webhook) = serve(restored.path());
    let listed: Value = client
        .post(format!("{webhook}crm.deal.list"))
        .json(&serde_json::json!({"select": ["TITLE"], "order": {"ID": "ASC"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let titles: Vec<&str> = listed["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["TITLE"].as_str())
        .collect();
    assert_eq!(
        titles,
        ["Before the backup", "Also before"],
        "the backup's deals, not the later one"
    );
}
