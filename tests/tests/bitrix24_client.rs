//! An existing Bitrix24 client library, fast-bitrix24 from PyPI, unmodified and pointed at the
//! host's webhook URL: CRUD, filtered and ordered paging over 120+ deals, a batch, and errors.
//!
//! The test makes its own Python virtual environment under the target directory, so it needs
//! python3 and access to PyPI, nothing installed beforehand.

use std::path::Path;

use serde_json::{Value, json};
use stagewright_tests::{TestHost, python_with_test_tools};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_bitrix24_works_against_the_webhook_url_unchanged() {
    let python = tokio::task::spawn_blocking(|| python_with_test_tools(Path::new(env!("CARGO_TARGET_TMPDIR"))))
        .await
        .unwrap();
    let host = TestHost::start().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/bitrix24_client_check.py");

    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(host.server.webhook_url())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the client script failed:\n{stderr}");
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));

    assert_eq!(seen["added_id"], 1);
    assert_eq!(seen["got_title"], "A & b+c #1");
    assert_eq!(
        (&seen["updated"], &seen["title_after_update"], &seen["deleted"]),
        (&json!(true), &json!("Renamed"), &json!(true))
    );
    assert_eq!(
        (&seen["bulk_added"], &seen["bulk_distinct_ids"]),
        (&json!(130), &json!(130))
    );
    assert_eq!(
        (&seen["get_all_count"], &seen["get_all_distinct_ids"]),
        (&json!(125), &json!(125))
    );
    assert_eq!((&seen["paged_count"], &seen["paged_pages"]), (&json!(121), &json!(3)));
    assert_eq!(
        (&seen["paged_first_amount"], &seen["paged_last_amount"]),
        (&json!("130.00"), &json!("10.00"))
    );
    let some_title = seen["some_bulk_title"].as_str().unwrap();
    assert!(some_title.starts_with("Deal "), "{seen}");
    assert_eq!(
        seen["batch_some_title"], some_title,
        "a batch get sees what a direct get sees"
    );
    assert_eq!(
        seen["batch_listed"],
        json!(["Deal 126", "Deal 127", "Deal 128", "Deal 129", "Deal 130"])
    );
    assert_eq!(seen["bad_field"]["error"], "INVALID_ARG_VALUE");
    assert!(
        seen["bad_field"]["error_description"]
            .as_str()
            .unwrap()
            .contains("NO_SUCH_FIELD"),
        "{seen}"
    );
    assert_eq!(seen["unknown_method_status"], 404);
    assert_eq!(seen["bad_token_status"], 401);

    let (_, listed) = host.rest("crm.deal.list", json!({})).await;
    assert_eq!(
        listed["total"], 130,
        "the deleted deal stays deleted and the bulk add landed once"
    );
}
