//! `/metrics` as Prometheus scrapes it: runs counted by plugin and outcome with their times,
//! requests by method family, and the queue, lag, outbox and pool read from the database.

use serde_json::json;
use stagewright_tests::TestHost;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_and_requests_are_counted_by_plugin_outcome_and_family() {
    let host = TestHost::start().await;
    let comment = host.add_robot("NEW", "add-comment", json!({"text": "Hello"})).await;
    let failing = host
        .add_robot_with(
            "NEW",
            "change-stage",
            json!({"stage_id": "NO_SUCH_STAGE"}),
            json!({"after_previous": true}),
        )
        .await;
    let deal = host.add_deal("Counted").await;
    assert_eq!(host.finished_run(deal, &comment).await["status"], "succeeded");
    assert_eq!(host.finished_run(deal, &failing).await["status"], "failed");
    host.rest("made.up.method", json!({})).await;

    let samples = host.metrics().await;
    let sample = |name: &str| {
        samples
            .get(name)
            .copied()
            .unwrap_or_else(|| panic!("no {name} in {samples:#?}"))
    };
    assert_eq!(
        sample(r#"stagewright_run_ends_total{plugin="add-comment",status="succeeded"}"#),
        1.0
    );
    assert_eq!(
        sample(r#"stagewright_run_ends_total{plugin="change-stage",status="failed"}"#),
        1.0
    );
    assert_eq!(
        sample(r#"stagewright_run_duration_seconds_count{plugin="add-comment"}"#),
        1.0
    );
    assert!(sample(r#"stagewright_run_duration_seconds_sum{plugin="add-comment"}"#) > 0.0);
    assert!(sample(r#"stagewright_http_requests_total{family="crm",status="2xx"}"#) >= 1.0);
    assert_eq!(
        sample(r#"stagewright_http_requests_total{family="rest_other",status="4xx"}"#),
        1.0
    );
    assert!(sample(r#"stagewright_http_requests_total{family="admin",status="2xx"}"#) >= 2.0);
    assert_eq!(sample(r#"stagewright_runs{state="due"}"#), 0.0);
    assert_eq!(sample("stagewright_scheduler_lag_seconds"), 0.0);
    assert_eq!(sample(r#"stagewright_outbox_messages{state="unsent"}"#), 0.0);
    assert!(sample(r#"stagewright_db_pool_connections{state="idle"}"#) >= 0.0);
    let database = if std::env::var_os(stagewright_tests::POSTGRES_VARIABLE).is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let build = format!(
        r#"stagewright_build_info{{database="{database}",version="{}"}}"#,
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(sample(&build), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_and_the_lag_are_read_from_the_database_at_each_scrape() {
    let host = TestHost::start_with(|s| {
        s.manual_clock = true;
        s.scheduler.workers = 0;
    })
    .await;
    host.add_robot("NEW", "add-comment", json!({"text": "Now"})).await;
    host.add_robot_with(
        "NEW",
        "add-comment",
        json!({"text": "In a day"}),
        json!({"timing": {"kind": "delay", "value": 1, "unit": "days"}}),
    )
    .await;
    for title in ["One", "Two"] {
        host.add_deal(title).await;
    }
    let samples = host.metrics().await;
    assert_eq!(samples[r#"stagewright_runs{state="due"}"#], 2.0, "no worker takes them");
    assert_eq!(samples[r#"stagewright_runs{state="scheduled"}"#], 2.0, "{samples:#?}");
    assert_eq!(samples["stagewright_scheduler_lag_seconds"], 0.0);

    host.advance_clock(90_000).await;
    let samples = host.metrics().await;
    assert_eq!(
        samples["stagewright_scheduler_lag_seconds"], 90.0,
        "the oldest due run waited 90 s"
    );
    assert_eq!(samples[r#"stagewright_runs{state="running"}"#], 0.0);
}
