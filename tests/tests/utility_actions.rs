//! The utility actions: `generate-code` (a random code as a return value) and `write-log` (a line
//! in the run record only), as robots on a deal stage.

use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::TestHost;

async fn robot(host: &TestHost, plugin_id: &str, config: Value, after_previous: bool) -> (u16, Value) {
    let body = json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": plugin_id, "config": config, "after_previous": after_previous});
    host.admin(Method::POST, "/api/v1/robots", Some(body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_code_reaches_later_robots_and_the_log_shows_templates_resolved() {
    let host = TestHost::start().await;
    let (status, code) = robot(
        &host,
        "generate-code",
        json!({"length": 8, "alphabet": "ABC123"}),
        false,
    )
    .await;
    assert_eq!(status, 201, "{code}");
    let code_robot = code["id"].as_str().unwrap().to_string();
    let (status, body) = robot(
        &host,
        "add-comment",
        json!({"text": format!("Your code: {{={code_robot}:code}}")}),
        true,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = robot(
        &host,
        "write-log",
        json!({"message": "logged {=Document:TITLE}", "level": "warn"}),
        true,
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let first = host.add_deal("Coupon").await;
    let second = host.add_deal("Another coupon").await;
    let mut codes = Vec::new();
    for deal in [first, second] {
        let runs = host.finished_runs(deal, 3).await;
        assert!(runs.iter().all(|r| r["status"] == "succeeded"), "{runs:#?}");
        let comments = host.comments(deal).await;
        let code = comments[0]
            .strip_prefix("Your code: ")
            .expect("the comment quotes the code")
            .to_string();
        assert_eq!(code.chars().count(), 8, "{code}");
        assert!(code.chars().all(|c| "ABC123".contains(c)), "{code}");
        codes.push(code);
        let log = runs.iter().find(|r| r["plugin_id"] == "write-log").unwrap();
        assert_eq!(log["logs"][0]["level"], "warn", "{log}");
        assert_eq!(log["return_values"], json!({}));
        assert_eq!(comments.len(), 1, "write-log changes nothing");
    }
    assert_eq!(host.comments(first).await.len(), 1);
    assert_ne!(codes[0], codes[1], "two draws of 6^8 codes differ");
    let first_log = &host.finished_runs(first, 3).await;
    let message = first_log.iter().find(|r| r["plugin_id"] == "write-log").unwrap()["logs"][0]["message"].clone();
    assert_eq!(message, "logged Coupon");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configs_of_utility_actions_are_refused() {
    let host = TestHost::start().await;
    for (plugin, config) in [
        ("generate-code", json!({"length": 0})),
        ("generate-code", json!({"length": 65})),
        ("generate-code", json!({"length": 4, "alphabet": "A"})),
        ("write-log", json!({"message": ""})),
        ("write-log", json!({"message": "x", "level": "loud"})),
    ] {
        let (status, body) = robot(&host, plugin, config.clone(), false).await;
        assert_eq!(status, 400, "{plugin} {config}: {body}");
        assert!(body["error_description"].as_str().unwrap().contains("schema"), "{body}");
    }
}
