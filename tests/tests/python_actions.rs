//! A built-in action ported to Python (`sdk/python/examples/change-stage`), built by the plugin
//! kit with componentize-py, checked against its test cases in the kit's scratch host, then
//! installed over the admin API and run by the real host as a robot. Needs componentize-py on
//! PATH (`pip install componentize-py==0.25.1`; CI installs it).

use std::path::Path;

use serde_json::json;
use stagewright::kit;
use stagewright_tests::TestHost;

/// Builds a copy of the example (the build writes under the plugin's folder); answers the
/// component.
async fn built_example() -> Vec<u8> {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/python/examples/change-stage");
    let dir = tempfile::tempdir().unwrap();
    for file in ["app.py", "plugin-tests.json"] {
        std::fs::copy(example.join(file), dir.path().join(file)).unwrap();
    }
    let folder = dir.path().to_path_buf();
    let built = tokio::task::spawn_blocking(move || kit::build::build(&folder))
        .await
        .unwrap();
    let wasm = built.unwrap_or_else(|e| panic!("componentize-py builds the example ({e})"));
    let cases = kit::cases::Cases::read(&dir.path().join("plugin-tests.json")).unwrap();
    let bytes = std::fs::read(wasm).unwrap();
    let mut report = Vec::new();
    let failed = kit::test::run_cases(&bytes, &cases, &mut report).await.unwrap();
    assert_eq!(failed, 0, "{}", String::from_utf8_lossy(&report));
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_port_of_change_stage_moves_a_deal_as_a_robot_of_the_real_host() {
    let wasm = built_example().await;
    let host = TestHost::start().await;
    let (status, installed) = host.install(&wasm).await;
    assert_eq!(status, 201, "{installed}");
    assert_eq!(installed["manifest"]["id"], "change-stage-py");
    assert_eq!(
        installed["contract"], "0.1.4",
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
