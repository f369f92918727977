//! JavaScript actions: the built-in notify ported to JavaScript (`sdk/js/examples/notify`), built
//! by the plugin kit with jco's QuickJS backend, checked against its test cases in the kit's
//! scratch host, then installed over the admin API and run by the real host as a robot; and a
//! hostile JavaScript plugin held by the same limits as a Rust one; and a plugin calling what
//! contract 0.1.5 added (`tests/js/calls-0-1-5`). Needs jco and
//! componentize-qjs on PATH (`npm install -g @bytecodealliance/jco@1.35.0 componentize-qjs@0.4.5`;
//! CI installs them).

use serde_json::json;
use stagewright_tests::{TestHost, assert_hostile_plugin_fails_alone, kit_built};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_port_of_notify_tells_the_responsible_as_a_robot_of_the_real_host() {
    let wasm = kit_built("sdk/js/examples/notify", &["app.js"]).await;
    let host = TestHost::start().await;
    let (status, installed) = host.install(&wasm).await;
    assert_eq!(status, 201, "{installed}");
    assert_eq!(installed["manifest"]["id"], "notify-js");
    assert_eq!(
        installed["contract"], "0.1.5",
        "built against the contract the host serves"
    );
    assert_eq!(installed["capabilities_in_words"], json!(["notifies users"]));

    let robot = host
        .add_robot(
            "PREPARATION",
            "notify-js",
            json!({"message": "{=Document:TITLE} is being prepared"}),
        )
        .await;
    let deal = host.add_deal("Laptops x40").await;
    host.move_deal(deal, "PREPARATION").await;
    let run = host.finished_run(deal, &robot).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["return_values"]["user_id"], 1, "{run}");
    assert_eq!(run["logs"][0]["message"], "notified user 1");
    let inbox = host.ok("im.notify.get", json!({})).await;
    assert_eq!(inbox["notifications"][0]["text"], "Laptops x40 is being prepared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_plugin_that_spins_hoards_or_throws_fails_alone_in_the_real_host() {
    let wasm = kit_built("tests/js/misbehave", &["app.js"]).await;
    assert_hostile_plugin_fails_alone(
        &wasm,
        "misbehave-js",
        24,
        "TypeError: cannot read property 'field' of undefined",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_plugin_completes_tasks_texts_and_posts_through_the_0_1_5_calls() {
    let wasm = kit_built("tests/js/calls-0-1-5", &["app.js"]).await;
    let host = TestHost::start().await;
    let (status, installed) = host.install(&wasm).await;
    assert_eq!(status, 201, "{installed}");
    let robot = host.add_robot("PREPARATION", "calls-0-1-5-js", json!({})).await;
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
    assert_eq!(outbox["messages"][0]["id"], run["return_values"]["message"]);
    let posts = host.ok("log.blogpost.get", json!({})).await;
    assert_eq!(posts[0]["DETAIL_TEXT"], "Posted from JavaScript");
    assert_eq!(posts[0]["CRM_ITEM"], format!("D_{deal}"));
}
