//! The `wait` action on the manual clock: a stage's chain pauses until the item gets an activity
//! (or another chosen happening) or the time is up, and leaving the stage ends the wait.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::TestHost;

const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

async fn manual_host() -> TestHost {
    TestHost::start_with(|s| s.manual_clock = true).await
}

/// A wait robot on NEW and, after it, a comment naming what ended the wait.
async fn wait_then_comment(host: &TestHost, config: Value) -> String {
    let wait = host.add_robot("NEW", "wait", config).await;
    host.add_robot_with(
        "NEW",
        "add-comment",
        json!({"text": format!("after the wait: {{={wait}:woke_by}}")}),
        json!({"after_previous": true}),
    )
    .await;
    wait
}

/// Waits (up to 30 s) until the robot's run for the deal is in `status`; returns it.
async fn run_in_status(host: &TestHost, deal: i64, robot_id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let runs = host.runs(deal).await;
        if let Some(run) = runs.iter().find(|r| r["robot_id"] == robot_id && r["status"] == status) {
            return run.clone();
        }
        assert!(Instant::now() < deadline, "no {status} run of {robot_id}: {runs:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn add_call(host: &TestHost, deal: i64) {
    host.ok(
        "crm.activity.add",
        json!({"fields": {"OWNER_TYPE_ID": 2, "OWNER_ID": deal, "TYPE_ID": 2, "SUBJECT": "The client called back"}}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_waits_for_an_activity_or_until_the_time_is_up() {
    let host = manual_host().await;
    let wait = wait_then_comment(&host, json!({"for": {"value": 2, "unit": "days"}})).await;
    let answered = host.add_deal("Answered").await;
    let quiet = host.add_deal("Quiet").await;
    for deal in [answered, quiet] {
        let run = host.finished_run(deal, &wait).await;
        assert_eq!(run["status"], "parked", "{run:#}");
        assert_eq!(run["logs"][0]["message"], "waiting 2 days, or until activity");
        assert_eq!(run["finished_at"], Value::Null, "a parked run has not finished");
    }

    host.advance_clock(DAY).await;
    add_call(&host, answered).await;
    let woke = run_in_status(&host, answered, &wait, "succeeded").await;
    assert_eq!(woke["return_values"]["woke_by"], "activity", "{woke:#}");
    host.finished_runs(answered, 2).await;
    assert_eq!(host.comments(answered).await, ["after the wait: activity"]);
    assert_eq!(run_in_status(&host, quiet, &wait, "parked").await["robot_id"], wait);
    assert!(
        host.comments(quiet).await.is_empty(),
        "one day in, the quiet deal still waits"
    );

    host.advance_clock(DAY + MINUTE).await;
    let woke = run_in_status(&host, quiet, &wait, "succeeded").await;
    assert_eq!(woke["return_values"]["woke_by"], "timeout", "{woke:#}");
    host.finished_runs(quiet, 2).await;
    assert_eq!(host.comments(quiet).await, ["after the wait: timeout"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_chosen_happenings_end_a_wait_and_leaving_the_stage_cancels_it() {
    let host = manual_host().await;
    let wait = wait_then_comment(
        &host,
        json!({"for": {"value": 3, "unit": "hours"}, "until": ["change"]}),
    )
    .await;
    let changed = host.add_deal("Changed").await;
    let moved = host.add_deal("Moved").await;
    run_in_status(&host, changed, &wait, "parked").await;
    run_in_status(&host, moved, &wait, "parked").await;

    add_call(&host, changed).await;
    host.ok(
        "crm.deal.update",
        json!({"id": changed, "fields": {"COMMENTS": "new terms"}}),
    )
    .await;
    let woke = run_in_status(&host, changed, &wait, "succeeded").await;
    assert_eq!(
        woke["return_values"]["woke_by"], "change",
        "an activity did not count, the change did"
    );
    host.finished_runs(changed, 2).await;
    assert_eq!(host.comments(changed).await, ["after the wait: change"]);

    host.move_deal(moved, "PREPARATION").await;
    let cancelled = run_in_status(&host, moved, &wait, "cancelled").await;
    assert_eq!(cancelled["error"], "the item left the stage");
    host.advance_clock(4 * 60 * MINUTE).await;
    let runs = host.finished_runs(moved, 2).await;
    assert!(runs.iter().all(|r| r["status"] == "cancelled"), "{runs:#?}");
    assert!(host.comments(moved).await.is_empty());
}

/// A happening that comes through the REST API ends the wait and wakes the scheduler: the chain
/// goes on at once, not at the scheduler's next look for due runs (an hour away here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_happening_through_the_api_lets_the_chain_go_on_at_once() {
    let host = TestHost::start_with(|s| {
        s.manual_clock = true;
        s.scheduler.poll = Duration::from_secs(3600);
    })
    .await;
    let wait = wait_then_comment(
        &host,
        json!({"for": {"value": 2, "unit": "days"}, "until": ["activity", "comment", "change"]}),
    )
    .await;
    let called = host.add_deal("Called").await;
    let commented = host.add_deal("Commented").await;
    let changed = host.add_deal("Changed").await;
    for deal in [called, commented, changed] {
        run_in_status(&host, deal, &wait, "parked").await;
    }

    add_call(&host, called).await;
    host.ok(
        "crm.timeline.comment.add",
        json!({"fields": {"ENTITY_TYPE": "deal", "ENTITY_ID": commented, "COMMENT": "Sent the offer"}}),
    )
    .await;
    host.ok(
        "crm.deal.update",
        json!({"id": changed, "fields": {"COMMENTS": "new terms"}}),
    )
    .await;
    for (deal, woke_by) in [(called, "activity"), (commented, "comment"), (changed, "change")] {
        host.finished_runs(deal, 2).await;
        let comments = host.comments(deal).await;
        assert!(
            comments.contains(&format!("after the wait: {woke_by}")),
            "{woke_by}: {comments:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_wait_configs_are_refused_when_saved() {
    let host = manual_host().await;
    for (config, expected) in [
        (json!({"for": {"value": 2, "unit": "weeks"}}), "weeks"),
        (
            json!({"for": {"value": 2, "unit": "days"}, "until": ["email"]}),
            "email",
        ),
        (json!({"for": {"value": 0, "unit": "days"}}), "minimum"),
        (json!({"until": ["activity"]}), "for"),
    ] {
        let body = json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": "wait", "config": config});
        let (status, error) = host.admin(Method::POST, "/api/v1/robots", Some(body)).await;
        assert_eq!(status, 400, "{config} {error}");
        assert!(error.to_string().contains(expected), "{config}: {error}");
    }
    let (_, robots) = host.admin(Method::GET, "/api/v1/robots", None).await;
    assert_eq!(robots["robots"], json!([]));
}
