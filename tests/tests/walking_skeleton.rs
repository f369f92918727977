//! A robot firing end to end, and the sandbox holding against hostile plugins.

use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::{TestHost, test_plugin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_a_deal_runs_the_stage_robots_and_records_the_runs() {
    let host = TestHost::start().await;
    host.add_robot("PREPARATION", "add-comment", json!({"text": "Documents requested"}))
        .await;
    host.add_robot("PREPARATION", "change-stage", json!({"stage_id": "EXECUTING"}))
        .await;
    let deal = host.add_deal("Office chairs").await;

    host.move_deal(deal, "PREPARATION").await;
    let runs = host.finished_runs(deal, 2).await;

    assert_eq!(host.deal(deal).await["STAGE_ID"], "EXECUTING");
    assert_eq!(host.comments(deal).await, vec!["Documents requested"]);
    for run in &runs {
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(run["plugin_version"], "0.1.0");
        assert!(run["fuel_used"].as_i64().unwrap() > 0, "{run}");
        assert!(run["duration_us"].as_i64().is_some(), "{run}");
    }
    let change = runs.iter().find(|r| r["plugin_id"] == "change-stage").unwrap();
    assert_eq!(change["return_values"], json!({"previous_stage_id": "PREPARATION"}));
    assert!(
        change["logs"][0]["message"]
            .as_str()
            .unwrap()
            .contains("moved from PREPARATION to EXECUTING")
    );
    let comment = runs.iter().find(|r| r["plugin_id"] == "add-comment").unwrap();
    assert!(comment["return_values"]["comment_id"].as_i64().is_some(), "{comment}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robot_moving_the_deal_runs_the_next_stage_robots() {
    let host = TestHost::start().await;
    host.add_robot("PREPARATION", "change-stage", json!({"stage_id": "FINAL_INVOICE"}))
        .await;
    host.add_robot("FINAL_INVOICE", "add-comment", json!({"text": "Invoice sent"}))
        .await;
    let deal = host.add_deal("Chain").await;

    host.move_deal(deal, "PREPARATION").await;
    host.finished_runs(deal, 2).await;

    assert_eq!(host.deal(deal).await["STAGE_ID"], "FINAL_INVOICE");
    assert_eq!(host.comments(deal).await, vec!["Invoice sent"]);
}

/// Installs the misbehaving plugin, runs it on a fresh deal in `mode`, and returns the deal's id
/// and the finished run.
async fn misbehave(host: &TestHost, mode: &str) -> (i64, Value) {
    let (status, body) = host.install(test_plugin("misbehave")).await;
    assert!(status == 201, "{body}");
    host.add_robot("EXECUTING", "misbehave", json!({"mode": mode})).await;
    let deal = host.add_deal("Untouchable").await;
    host.move_deal(deal, "EXECUTING").await;
    let runs = host.finished_runs(deal, 1).await;
    (deal, runs[0].clone())
}

async fn assert_deal_untouched(host: &TestHost, deal: i64) {
    let after = host.deal(deal).await;
    assert_eq!(after["TITLE"], "Untouchable");
    assert_eq!(after["STAGE_ID"], "EXECUTING");
    assert!(host.comments(deal).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_loops_forever_is_cut_off_and_the_host_keeps_serving() {
    let host = TestHost::start_with(|s| s.limits.fuel = 20_000_000).await;
    let (deal, run) = misbehave(&host, "loop").await;

    assert_eq!(run["status"], "failed");
    assert!(
        run["error"].as_str().unwrap().contains("ran out of its CPU budget"),
        "{run}"
    );
    assert!(run["fuel_used"].as_i64().unwrap() >= 20_000_000, "{run}");
    assert_deal_untouched(&host, deal).await;
    let next = host.add_deal("Still serving").await;
    assert_eq!(host.deal(next).await["TITLE"], "Still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_writes_then_fails_leaves_the_deal_as_it_was() {
    let host = TestHost::start().await;
    let (deal, run) = misbehave(&host, "error").await;

    assert_eq!(run["status"], "failed");
    assert_eq!(run["error"], "failed: refusing on purpose");
    assert_deal_untouched(&host, deal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_traps_after_writing_leaves_the_deal_as_it_was() {
    let host = TestHost::start().await;
    let (deal, run) = misbehave(&host, "trap").await;

    assert_eq!(run["status"], "failed");
    let error = run["error"].as_str().unwrap();
    assert!(error.starts_with("trapped"), "{run}");
    assert!(
        error.contains("stagewright_test_plugin_misbehave::"),
        "the trap names the plugin's function: {error}"
    );
    assert_deal_untouched(&host, deal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_exhausts_memory_fails_alone() {
    let host = TestHost::start_with(|s| s.limits.memory_bytes = 16 << 20).await;
    let (deal, run) = misbehave(&host, "memory").await;

    assert_eq!(run["status"], "failed");
    assert!(run["error"].as_str().unwrap().contains("memory"), "{run}");
    assert_deal_untouched(&host, deal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_touching_an_undeclared_entity_type_is_refused() {
    let host = TestHost::start().await;
    let (deal, run) = misbehave(&host, "undeclared").await;

    assert_eq!(run["status"], "failed");
    assert_eq!(run["error"], "failed: denied: write:contact");
    let logs = run["logs"].to_string();
    assert!(
        logs.contains("denied: write:contact is not among the plugin's capabilities"),
        "{logs}"
    );
    assert_deal_untouched(&host, deal).await;
    let contacts = host.ok("crm.contact.list", json!({})).await;
    assert_eq!(contacts, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installing_something_that_is_not_an_action_component_is_refused_and_installs_nothing() {
    let host = TestHost::start().await;
    let (_, before) = host.admin(Method::GET, "/api/v1/plugins", None).await;

    let cases: [(&[u8], &str); 4] = [
        (b"definitely not wasm, just text", "not a WebAssembly binary"),
        (b"\0asm\x01\0\0\0", "core WebAssembly module, not a component"),
        (b"\0asm\x0d\0\x01\0\x01\x02\x03", "invalid component"),
        (
            test_plugin("other-world"),
            "does not implement the stagewright:action world",
        ),
    ];
    for (bytes, expected) in cases {
        let (status, body) = host.install(bytes).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"], "INVALID_PLUGIN");
        let description = body["error_description"].as_str().unwrap();
        assert!(
            description.contains(expected),
            "{description} should mention {expected}"
        );
    }

    let (_, after) = host.admin(Method::GET, "/api/v1/plugins", None).await;
    assert_eq!(before, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_plugins_are_installed_on_first_start() {
    let host = TestHost::start().await;
    let (status, body) = host.admin(Method::GET, "/api/v1/plugins", None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["manifest"]["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"change-stage") && ids.contains(&"add-comment"), "{ids:?}");
    let change = body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["manifest"]["id"] == "change-stage")
        .unwrap();
    assert_eq!(change["builtin"], true);
    assert_eq!(change["manifest"]["config_schema"]["required"], json!(["stage_id"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_needs_the_admin_token() {
    let host = TestHost::start().await;
    let url = format!("{}/api/v1/plugins", host.server.base_url());
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "INVALID_CREDENTIALS");
}

/// The component with an extra custom section: a different build with the same manifest.
fn rebuilt(wasm: &[u8]) -> Vec<u8> {
    let name = b"rebuild";
    let payload = b"1";
    let mut out = wasm.to_vec();
    out.push(0);
    out.push(u8::try_from(1 + name.len() + payload.len()).unwrap());
    out.push(u8::try_from(name.len()).unwrap());
    out.extend_from_slice(name);
    out.extend_from_slice(payload);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reinstalling_a_build_is_a_no_op_but_new_code_needs_a_new_version() {
    let host = TestHost::start().await;
    let wasm = test_plugin("noop");
    let (first, body) = host.install(wasm).await;
    assert_eq!(first, 201, "{body}");
    let (again, _) = host.install(wasm).await;
    assert_eq!(again, 201);

    let (status, body) = host.install(&rebuilt(wasm)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "VERSION_CONFLICT");
    assert!(
        body["error_description"].as_str().unwrap().contains("noop 1.0.0"),
        "{body}"
    );

    let (_, plugins) = host.admin(Method::GET, "/api/v1/plugins", None).await;
    let noops: Vec<&Value> = plugins["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["manifest"]["id"] == "noop")
        .collect();
    assert_eq!(noops.len(), 1);
    assert_eq!(noops[0]["sha256"], sha256_hex(wasm));
}

fn sha256_hex(wasm: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(wasm))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_survive_a_restart_and_one_that_no_longer_loads_does_not_stop_the_host() {
    let host = TestHost::start().await;
    assert_eq!(host.install(test_plugin("noop")).await.0, 201);
    assert_eq!(host.install(test_plugin("misbehave")).await.0, 201);
    let app = json!({"CODE": "survivor", "HANDLER": "https://app.example.com/robot", "NAME": "A Bitrix24 app's robot"});
    assert_eq!(host.ok("bizproc.robot.add", app).await, true);
    let ids = |body: &Value| -> Vec<String> {
        let mut ids: Vec<String> = body["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["manifest"]["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };

    let host = host.restart().await;
    let (_, plugins) = host.admin(Method::GET, "/api/v1/plugins", None).await;
    assert_eq!(
        ids(&plugins),
        [
            "add-comment",
            "add-feed-post",
            "add-to-exceptions",
            "app:survivor",
            "book-resource",
            "cancel-booking",
            "change-pipeline",
            "change-responsible",
            "change-stage",
            "complete-task",
            "create-activity",
            "create-from-source",
            "create-repeat-lead",
            "create-spa-item",
            "create-task",
            "delete-item",
            "delete-spa-item",
            "edit-item",
            "edit-spa-item",
            "generate-code",
            "get-spa-item",
            "misbehave",
            "noop",
            "notify",
            "send-email",
            "send-sms",
            "wait",
            "webhook",
            "write-log"
        ]
    );

    let mut conn = host.database().await;
    sqlx::query("UPDATE plugins SET wasm = $1 WHERE id = 'noop'")
        .bind(b"\0asm\x0d\0\x01\0\xff".to_vec())
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);

    let host = host.restart().await;
    let (_, plugins) = host.admin(Method::GET, "/api/v1/plugins", None).await;
    assert_eq!(
        ids(&plugins),
        [
            "add-comment",
            "add-feed-post",
            "add-to-exceptions",
            "app:survivor",
            "book-resource",
            "cancel-booking",
            "change-pipeline",
            "change-responsible",
            "change-stage",
            "complete-task",
            "create-activity",
            "create-from-source",
            "create-repeat-lead",
            "create-spa-item",
            "create-task",
            "delete-item",
            "delete-spa-item",
            "edit-item",
            "edit-spa-item",
            "generate-code",
            "get-spa-item",
            "misbehave",
            "notify",
            "send-email",
            "send-sms",
            "wait",
            "webhook",
            "write-log"
        ]
    );
    let deal = host.add_deal("Still serving").await;
    assert_eq!(host.deal(deal).await["TITLE"], "Still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_in_code_stays_in_the_binary_and_an_earlier_binarys_versions_are_retired() {
    let host = TestHost::start().await;
    let mut conn = host.database().await;
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM plugins WHERE builtin = 1 AND length(wasm) > 0")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored, 0, "built-in plugins' code is stored in the database");
    // What an earlier binary that shipped change-stage 0.0.1 leaves behind.
    sqlx::query(
        "INSERT INTO plugins (id, version, sha256, manifest, wasm, builtin, installed_at)
         SELECT id, '0.0.1', sha256, manifest, wasm, builtin, installed_at FROM plugins WHERE id = 'change-stage'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);

    let host = host.restart().await;
    let (_, plugins) = host.admin(Method::GET, "/api/v1/plugins", None).await;
    let versions: Vec<&str> = plugins["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["manifest"]["id"] == "change-stage")
        .map(|p| p["manifest"]["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_ne!(versions[0], "0.0.1");
    let mut conn = host.database().await;
    let retired: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM plugins WHERE id = 'change-stage' AND version = '0.0.1'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(retired, 0);
    let deal = host.add_deal("Built-ins still run").await;
    let robot = host
        .add_robot("PREPARATION", "change-stage", json!({"stage_id": "EXECUTING"}))
        .await;
    host.move_deal(deal, "PREPARATION").await;
    assert_eq!(host.finished_run(deal, &robot).await["status"], "succeeded");
    assert_eq!(host.deal(deal).await["STAGE_ID"], "EXECUTING");
}
