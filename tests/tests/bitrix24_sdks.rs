//! Bitrix24's official SDKs, unmodified, against the host's own https with its self-signed
//! certificate: b24pysdk (PyPI) trusting it through `REQUESTS_CA_BUNDLE`, then b24jssdk (npm)
//! through `NODE_EXTRA_CA_CERTS`. Each SDK adds, reads, lists everything (b24pysdk's `as_list`
//! and its batch-chained `as_list_fast`; b24jssdk's `callList` and `fetchList`, both walking
//! `start=-1` by `>ID`), batches with named and listed commands, and meets a REST 3.0 call.
//!
//! The test installs both SDKs itself under the target directory (pip and npm), so it needs
//! python3, node and npm, and access to PyPI and npm.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use stagewright::tls::Tls;
use stagewright_tests::{TestHost, python_with_test_tools, run};

/// The b24jssdk release the check is written against.
const B24JSSDK: &str = "@bitrix24/b24jssdk@2.1.0";

/// A folder under the target directory with b24jssdk installed and the check script beside it
/// (Node resolves an ES module's imports from where the script is); one per database suite.
fn node_with_b24jssdk() -> PathBuf {
    let suite = match std::env::var_os(stagewright_tests::POSTGRES_VARIABLE) {
        Some(_) => "b24jssdk-postgres",
        None => "b24jssdk",
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(suite);
    std::fs::create_dir_all(&dir).unwrap();
    if !dir.join("node_modules/@bitrix24/b24jssdk").is_dir() {
        let prefix = dir.to_str().unwrap();
        run(
            Path::new("npm"),
            &[
                "install",
                "--prefix",
                prefix,
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                B24JSSDK,
            ],
        );
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("js/b24jssdk_check.mjs");
    std::fs::copy(script, dir.join("b24jssdk_check.mjs")).unwrap();
    dir
}

/// Runs a check script and answers the JSON object it printed.
async fn seen(command: &mut tokio::process::Command) -> Value {
    let output = command.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the SDK check failed:\n{stderr}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_and_javascript_sdks_work_over_the_hosts_own_https() {
    let (python, node_dir) = tokio::task::spawn_blocking(|| {
        (
            python_with_test_tools(Path::new(env!("CARGO_TARGET_TMPDIR"))),
            node_with_b24jssdk(),
        )
    })
    .await
    .unwrap();
    let host = TestHost::start_with(|s| s.tls = Some(Tls::SelfSigned)).await;
    let cert = host.server.self_signed_cert.clone().expect("a self-signed certificate");
    let webhook = host.server.webhook_url();
    assert!(webhook.starts_with("https://127.0.0.1:"), "{webhook}");
    let domain = webhook
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap()
        .to_string();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/b24pysdk_check.py");
    let py = seen(
        tokio::process::Command::new(&python)
            .arg(&script)
            .arg(&domain)
            .arg(format!("1/{}", host.server.webhook_token))
            .env("REQUESTS_CA_BUNDLE", &cert),
    )
    .await;
    assert_eq!(py["seeded"], json!((1..=70).collect::<Vec<_>>()), "{py}");
    assert_eq!(
        (&py["added_id"], &py["got_title"]),
        (&json!(71), &json!("Chairs & desks"))
    );
    assert_eq!(py["first_page"], 50);
    assert_eq!(
        py["as_list"],
        json!((1..=71).collect::<Vec<_>>()),
        "as_list pages by start and next"
    );
    assert_eq!(
        py["as_list_fast"],
        json!((11..=71).collect::<Vec<_>>()),
        "as_list_fast walks start=-1 by >ID in chained batches"
    );
    assert_eq!(
        (&py["batch_named_title"], &py["batch_named_error"]),
        (&json!("Deal 1"), &json!("NOT_FOUND"))
    );
    assert_eq!(py["batch_listed_shape"], "list");
    assert_eq!(py["batch_listed_titles"], json!(["Deal 1", "Deal 2"]));
    assert_eq!(
        py["not_found"], "BitrixAPINotFound",
        "the SDK's typed error for NOT_FOUND"
    );

    let js = seen(
        tokio::process::Command::new("node")
            .current_dir(&node_dir)
            .arg("b24jssdk_check.mjs")
            .arg(&webhook)
            .env("NODE_EXTRA_CA_CERTS", &cert),
    )
    .await;
    assert_eq!(
        js["plain_http"], "Webhook requires HTTPS protocol",
        "why https matters: {js}"
    );
    assert_eq!((&js["added_id"], &js["got_title"]), (&json!(72), &json!("From JS")));
    assert_eq!(js["call_list"], json!((11..=72).collect::<Vec<_>>()), "{js}");
    assert_eq!(js["fetch_list"], 72);
    assert_eq!(js["batch_array_ok"], true);
    assert_eq!(js["batch_array_titles"], json!(["Deal 1", "Deal 2"]));
    assert_eq!(
        (&js["batch_named_ok"], &js["batch_named_title"]),
        (&json!(false), &json!("Deal 1"))
    );
    assert_eq!(js["batch_named_error"], "Not found: deal 999999");
    assert_eq!(js["batch_by_chunk"], 60, "60 calls in two batches");
    assert_eq!(js["v3_ok"], false);
    assert!(
        js["v3_error"].as_str().unwrap().contains("not served over REST 3.0"),
        "{js}"
    );

    let mut db = host.database().await;
    let deals: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items WHERE entity_type = 'deal'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(deals, 72, "what the SDKs added is stored");
}
