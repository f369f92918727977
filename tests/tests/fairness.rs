//! A plugin that sleeps to its wall-time bound holds at most its share of the workers: its runs
//! take turns on one worker while the other robots keep running on the rest, and every one of
//! its runs still runs, and fails by the bound, in the end.

use std::time::Duration;

use serde_json::{Value, json};
use stagewright_tests::{TestHost, test_plugin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleeping_plugin_holds_only_its_share_of_the_workers() {
    let host = TestHost::start_with(|s| {
        s.scheduler.workers = 2;
        s.scheduler.claim_batch = 1;
        s.scheduler.plugin_share = Some(1);
        s.scheduler.max_attempts = 1;
        s.limits.wall_time = Duration::from_millis(400);
    })
    .await;
    let (status, installed) = host.install(test_plugin("misbehave")).await;
    assert_eq!(status, 201, "{installed}");
    let sleeper = host
        .add_robot("PREPARATION", "misbehave", json!({"mode": "sleep"}))
        .await;
    let quick = host
        .add_robot("EXECUTING", "add-comment", json!({"text": "Done"}))
        .await;
    let mut sleepy = Vec::new();
    for n in 0..3 {
        let deal = host.add_deal(&format!("Sleepy {n}")).await;
        host.move_deal(deal, "PREPARATION").await;
        sleepy.push(deal);
    }
    let mut busy = Vec::new();
    for n in 0..6 {
        let deal = host.add_deal(&format!("Busy {n}")).await;
        host.move_deal(deal, "EXECUTING").await;
        busy.push(deal);
    }

    let mut slept: Vec<Value> = Vec::new();
    for deal in &sleepy {
        let run = host.finished_run(*deal, &sleeper).await;
        assert_eq!(run["status"], "failed", "{run}");
        let error = run["error"].as_str().unwrap();
        assert!(error.contains("exceeded its wall-clock limit"), "{error}");
        assert_eq!(run["attempt"], 1, "being put back for its share is no attempt: {run}");
        slept.push(run);
    }
    let mut spans: Vec<(i64, i64)> = slept
        .iter()
        .map(|run| {
            (
                run["started_at"].as_i64().unwrap(),
                run["finished_at"].as_i64().unwrap(),
            )
        })
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "two sleeping runs held two workers at once: {spans:?}"
        );
    }
    let last_sleeper_done = spans.last().unwrap().1;
    for deal in &busy {
        let run = host.finished_run(*deal, &quick).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert!(
            run["finished_at"].as_i64().unwrap() < last_sleeper_done,
            "the other robots ran beside the sleeping plugin, not after it: {run}"
        );
    }
}
