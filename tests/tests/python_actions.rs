//! A built-in action ported to Python (`sdk/python/examples/change-stage`), built by the plugin
//! kit with componentize-py, checked against its test cases in the kit's scratch host, then
//! installed over the admin API and run by the real host as a robot; and a hostile Python plugin
//! (`tests/python/misbehave`) held by the same limits as a Rust one; and a plugin calling what
//! contract 0.1.5 added (`tests/python/calls-0-1-5`). Needs componentize-py on
//! PATH (`pip install componentize-py==0.25.1`; CI installs it).

use serde_json::json;
use stagewright_tests::{TestHost, assert_hostile_plugin_fails_alone, kit_built};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_port_of_change_stage_moves_a_deal_as_a_robot_of_the_real_host() {
    let wasm = kit_built("sdk/python/examples/change-stage", &["app.py"]).await;
    let host = TestHost::start().await;
    let (status, installed) = host.install(&wasm).await;
    assert_eq!(status, 201, "{installed}");
    assert_eq!(installed["manifest"]["id"], "change-stage-py");
    assert_eq!(
        installed["contract"], "0.1.5",
        "built against the contract the host serves"
    );
    assert_eq!(
        installed["capabilities_in_words"],
        json!(["writes deals", "writes leads", "writes items of every smart process"])
    );

    let robot = host
        .add_robot("PREPARATION", "change-stage-py", json!({"stage_id": "WON"}))
        .await;
    let deal = host.add_deal("Laptops x40").await;
    host.move_deal(deal, "PREPARATION").await;
    let run = host.finished_run(deal, &robot).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["return_values"], json!({"previous_stage_id": "PREPARATION"}));
    assert_eq!(run["logs"][0]["message"], "moved from PREPARATION to WON");
    assert_eq!(host.deal(deal).await["STAGE_ID"], "WON");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_plugin_that_spins_hoards_or_has_a_bug_fails_alone_in_the_real_host() {
    let wasm = kit_built("tests/python/misbehave", &["app.py"]).await;
    assert_hostile_plugin_fails_alone(
        &wasm,
        "misbehave-py",
        32,
        "failed: KeyError: 'missing'\nTraceback (most recent call last):",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_plugin_completes_tasks_texts_and_posts_through_the_0_1_5_calls() {
    let wasm = kit_built("tests/python/calls-0-1-5", &["app.py"]).await;
    let host = TestHost::start().await;
    let (status, installed) = host.install(&wasm).await;
    assert_eq!(status, 201, "{installed}");
    let robot = host.add_robot("PREPARATION", "calls-0-1-5-py", json!({})).await;
    let deal = host.add_deal("Chairs").await;
    host.ok(
        "tasks.task.add",
        json!({"fields": {"TITLE": "Measure the room", "RESPONSIBLE_ID": 1, "UF_CRM_TASK": [format!("D_{deal}")]}}),
    )
    .await;
    host.move_deal(deal, "PREPARATION").await;
    let run = host.finished_run(deal, &robot).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    assert_eq!(run["return_values"]["completed"], 1, "{run:#}");
    let tasks = host.ok("tasks.task.list", json!({})).await["tasks"].clone();
    assert_eq!(tasks[0]["status"], "5", "{tasks}");
    let (_, outbox) = host
        .admin(reqwest::Method::GET, "/api/v1/outbox?channel=sms", None)
        .await;
    assert_eq!(outbox["messages"][0]["to"], json!(["+15550100"]));
    let posts = host.ok("log.blogpost.get", json!({})).await;
    assert_eq!(posts[0]["DETAIL_TEXT"], "Posted from Python");
    assert_eq!(posts[0]["CRM_ITEM"], format!("D_{deal}"));
}
