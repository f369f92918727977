//! Chain slices: consecutive robots of a chain run in one write transaction and commit once.
//! Each robot reads what the ones before it wrote, uncommitted; the slice commits before a robot
//! that reaches outside the host, so what leaves the host follows a commit; and a robot that
//! takes longer than a slice allows runs again on its own, under the run bound.

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use serde_json::{Value, json};
use stagewright_tests::{TestHost, test_plugin};

/// Commits of the scheduler and the runs they ended, from `/metrics`.
fn commits(samples: &HashMap<String, f64>) -> (f64, f64) {
    let sample = |name: &str| samples.get(name).copied().unwrap_or(0.0);
    (
        sample("stagewright_scheduler_commit_runs_count"),
        sample("stagewright_scheduler_commit_runs_sum"),
    )
}

/// A smart process with one contract of 4200, and three robots on the deal's first stage: edit
/// the contract's amount to 900, read it back, and comment with what was read.
async fn contract_chain(host: &TestHost) -> String {
    let spa = host.ok("crm.type.add", json!({"fields": {"title": "Contracts"}})).await["type"].clone();
    let type_id = spa["entityTypeId"].as_i64().unwrap();
    let contract = host
        .ok(
            "crm.item.add",
            json!({"entityTypeId": type_id, "fields": {"title": "Contract 1", "opportunity": 4200}}),
        )
        .await["item"]["id"]
        .as_i64()
        .unwrap();
    host.add_robot(
        "NEW",
        "edit-spa-item",
        json!({"entity_type_id": type_id, "filter": {"ID": contract}, "fields": {"OPPORTUNITY": 900}}),
    )
    .await;
    let get = host
        .add_robot_with(
            "NEW",
            "get-spa-item",
            json!({"entity_type_id": type_id, "filter": {"ID": contract}, "select": ["OPPORTUNITY"]}),
            json!({"after_previous": true}),
        )
        .await;
    host.add_robot_with(
        "NEW",
        "add-comment",
        json!({"text": format!("amount {{={get}:OPPORTUNITY}}")}),
        json!({"after_previous": true}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_commits_once_and_each_robot_reads_what_the_one_before_wrote() {
    // A slice this long is never cut short by a slow test machine.
    let host = TestHost::start_with(|s| s.scheduler.slice_time = Duration::from_secs(60)).await;
    let comment = contract_chain(&host).await;
    let before = commits(&host.metrics().await);
    let deal = host.add_deal("Sliced").await;
    assert_eq!(host.finished_run(deal, &comment).await["status"], "succeeded");
    assert_eq!(
        host.comments(deal).await,
        vec!["amount 900.00"],
        "the reading robot saw the edit before it was committed"
    );
    let after = commits(&host.metrics().await);
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (1.0, 3.0),
        "one commit ended the chain's three runs"
    );

    let unsliced = TestHost::start_with(|s| s.scheduler.slice_runs = 0).await;
    let comment = contract_chain(&unsliced).await;
    let before = commits(&unsliced.metrics().await);
    let deal = unsliced.add_deal("Not sliced").await;
    assert_eq!(unsliced.finished_run(deal, &comment).await["status"], "succeeded");
    assert_eq!(unsliced.comments(deal).await, vec!["amount 900.00"]);
    let after = commits(&unsliced.metrics().await);
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (3.0, 3.0),
        "without slices every run commits by itself"
    );
}

/// What the receiving system found in the CRM when the webhook reached it.
#[derive(Clone)]
struct Receiver {
    host_webhook: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

/// Reads the deal back through the host's REST API, which sees only what is committed.
async fn receive(State(receiver): State<Receiver>, body: axum::body::Bytes) -> axum::Json<Value> {
    let sent: Value = serde_json::from_slice(&body).unwrap();
    let answer: Value = reqwest::Client::new()
        .post(format!("{}crm.deal.get", receiver.host_webhook))
        .json(&json!({"id": sent["id"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    receiver.seen.lock().unwrap().push(answer["result"].clone());
    axum::Json(json!({"ok": true}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slice_commits_before_a_robot_that_reaches_outside() {
    let host = TestHost::start_with(|s| {
        s.scheduler.slice_time = Duration::from_secs(60);
        s.http.allow_internal = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let receiver = Receiver {
        host_webhook: host.server.webhook_url(),
        seen: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().fallback(receive).with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let chained = json!({"after_previous": true});
    host.add_robot(
        "NEW",
        "edit-item",
        json!({"fields": {"COMMENTS": "checked by the robot"}}),
    )
    .await;
    host.add_robot_with(
        "NEW",
        "webhook",
        json!({"url": format!("http://127.0.0.1:{port}/hook"), "fields": ["COMMENTS"]}),
        chained.clone(),
    )
    .await;
    let comment = host
        .add_robot_with("NEW", "add-comment", json!({"text": "Sent"}), chained)
        .await;
    let before = commits(&host.metrics().await);
    let deal = host.add_deal("Reaching out").await;
    assert_eq!(host.finished_run(deal, &comment).await["status"], "succeeded");

    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert_eq!(
        seen[0]["COMMENTS"], "checked by the robot",
        "the edit was committed before the webhook left the host"
    );
    let after = commits(&host.metrics().await);
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (2.0, 3.0),
        "the edit committed alone; the webhook and the comment after it together"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robot_that_outlasts_its_slice_runs_again_on_its_own() {
    let host = TestHost::start_with(|s| {
        // Long enough that the slice is still young when the sleeper's turn comes, on any
        // test machine; the sleeper is cut off after it.
        s.scheduler.slice_time = Duration::from_secs(1);
        s.scheduler.max_attempts = 1;
        s.limits.wall_time = Duration::from_secs(2);
    })
    .await;
    let (status, installed) = host.install(test_plugin("misbehave")).await;
    assert_eq!(status, 201, "{installed}");
    let chained = json!({"after_previous": true});
    host.add_robot("NEW", "add-comment", json!({"text": "Before"})).await;
    let sleeper = host
        .add_robot_with("NEW", "misbehave", json!({"mode": "sleep"}), chained.clone())
        .await;
    let after = host
        .add_robot_with("NEW", "add-comment", json!({"text": "After"}), chained)
        .await;
    let deal = host.add_deal("Slow robot").await;

    let slept = host.finished_run(deal, &sleeper).await;
    assert_eq!(slept["status"], "failed", "{slept:#}");
    assert_eq!(
        slept["error"], "exceeded its wall-clock limit of 2s",
        "its retry ran under the run bound, not the slice's 1 s"
    );
    assert_eq!(
        slept["attempt"], 1,
        "the attempt cut off by the slice is not counted: {slept:#}"
    );
    assert_eq!(host.finished_run(deal, &after).await["status"], "succeeded");
    let mut comments = host.comments(deal).await;
    comments.sort();
    assert_eq!(comments, vec!["After", "Before"], "each comment once");
    let samples = host.metrics().await;
    assert_eq!(
        samples.get(r#"stagewright_run_ends_total{plugin="misbehave",status="deferred"}"#),
        Some(&1.0),
        "put back once from its slice: {samples:#?}"
    );
}
