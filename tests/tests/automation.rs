//! Robot scenarios on the manual clock: every timing kind, chains, conditions, templates and
//! return values, and what leaving a stage does, as an admin configures them through the admin
//! API and an integration drives items through REST.

use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::TestHost;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

async fn manual_host() -> TestHost {
    TestHost::start_with(|s| s.manual_clock = true).await
}

/// Attaches a robot to a deal stage; `extra` adds timing, condition, after_previous...
async fn robot(host: &TestHost, stage_id: &str, plugin_id: &str, config: Value, extra: Value) -> String {
    let mut body = json!({"entity_type": "deal", "stage_id": stage_id, "plugin_id": plugin_id, "config": config});
    for (key, value) in extra.as_object().cloned().unwrap_or_default() {
        body[key] = value;
    }
    let (status, answer) = host.admin(Method::POST, "/api/v1/robots", Some(body)).await;
    assert_eq!(status, 201, "adding robot failed: {answer}");
    answer["id"].as_str().unwrap().to_string()
}

/// A robot that writes `text` as a timeline comment.
async fn commenting(host: &TestHost, stage_id: &str, text: &str, extra: Value) -> String {
    robot(host, stage_id, "add-comment", json!({"text": text}), extra).await
}

/// Moves the manual clock; returns the new time.
async fn advance(host: &TestHost, ms: i64) -> i64 {
    let (status, body) = host
        .admin(Method::POST, "/api/v1/clock/advance", Some(json!({"ms": ms})))
        .await;
    assert_eq!(status, 200, "{body}");
    body["now_ms"].as_i64().unwrap()
}

async fn add_deal(host: &TestHost, fields: Value) -> i64 {
    host.ok("crm.deal.add", json!({"fields": fields}))
        .await
        .as_i64()
        .unwrap()
}

/// The deal's runs of one robot, oldest first.
async fn runs_of(host: &TestHost, deal: i64, robot_id: &str) -> Vec<Value> {
    let mut runs: Vec<Value> = host
        .runs(deal)
        .await
        .into_iter()
        .filter(|r| r["robot_id"] == robot_id)
        .collect();
    runs.reverse();
    runs
}

/// Waits until the deal's run of `robot_id` has finished; returns it.
async fn finished(host: &TestHost, deal: i64, robot_id: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(run) = runs_of(host, deal, robot_id)
            .await
            .into_iter()
            .find(|r| !matches!(r["status"].as_str(), Some("waiting" | "pending" | "running")))
        {
            return run;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "robot {robot_id} did not finish for deal {deal}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The one pending run of the robot for the deal.
async fn pending(host: &TestHost, deal: i64, robot_id: &str) -> Value {
    let runs = runs_of(host, deal, robot_id).await;
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0]["status"], "pending", "{runs:#?}");
    runs[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_robot_runs_when_the_clock_reaches_it_to_the_second() {
    let host = manual_host().await;
    let soon = commenting(
        &host,
        "NEW",
        "soon",
        json!({"timing": {"kind": "delay", "value": 90, "unit": "seconds"}}),
    )
    .await;
    // Due at 89 s, after `soon` in the stage: an item's robots run in order, so it could not run
    // before `soon` if `soon` were due too. Once it has finished, the scheduler has had its chance
    // at 89 s. It only writes to its run record, so the deal's comments stay `soon`'s.
    let on_time = robot(
        &host,
        "NEW",
        "write-log",
        json!({"message": "89 seconds in"}),
        json!({"timing": {"kind": "delay", "value": 89, "unit": "seconds"}}),
    )
    .await;
    let start = advance(&host, 0).await;
    let deal = add_deal(&host, json!({"TITLE": "Delayed"})).await;
    assert_eq!(pending(&host, deal, &soon).await["due_at"], start + 90_000);

    advance(&host, 89_000).await;
    assert_eq!(finished(&host, deal, &on_time).await["status"], "succeeded");
    assert_eq!(
        pending(&host, deal, &soon).await["status"],
        "pending",
        "not due one second early"
    );
    advance(&host, 1_000).await;
    assert_eq!(finished(&host, deal, &soon).await["status"], "succeeded");
    assert_eq!(host.comments(deal).await, ["soon"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_waits_for_the_previous_robot_and_counts_its_delay_from_then() {
    let host = manual_host().await;
    let first = commenting(&host, "NEW", "first", json!({})).await;
    let second = commenting(
        &host,
        "NEW",
        &format!("second, after comment {{={first}:comment_id}}"),
        json!({"after_previous": true, "timing": {"kind": "delay", "value": 1, "unit": "hours"}}),
    )
    .await;
    let third = commenting(&host, "NEW", "third", json!({"after_previous": true})).await;
    let parallel = commenting(
        &host,
        "NEW",
        "parallel",
        json!({"timing": {"kind": "delay", "value": 10, "unit": "minutes"}}),
    )
    .await;

    let start = advance(&host, 0).await;
    let deal = add_deal(&host, json!({"TITLE": "Chained"})).await;
    let first_run = finished(&host, deal, &first).await;
    let first_comment = first_run["return_values"]["comment_id"].clone();
    assert_eq!(
        pending(&host, deal, &parallel).await["due_at"],
        start + 10 * MINUTE,
        "starts with the stage"
    );
    let first_done = first_run["finished_at"].as_i64().unwrap();
    assert_eq!(
        pending(&host, deal, &second).await["due_at"],
        first_done + HOUR,
        "counted from the first's end"
    );
    let third_runs = runs_of(&host, deal, &third).await;
    assert_eq!(third_runs.len(), 1, "{third_runs:#?}");
    assert_eq!(third_runs[0]["status"], "waiting", "the third waits for the second");

    advance(&host, 10 * MINUTE).await;
    finished(&host, deal, &parallel).await;
    advance(&host, 50 * MINUTE).await;
    finished(&host, deal, &second).await;
    assert_eq!(finished(&host, deal, &third).await["status"], "succeeded");
    assert_eq!(
        host.comments(deal).await,
        [
            "first",
            "parallel",
            &format!("second, after comment {first_comment}"),
            "third"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_the_stage_cancels_pending_robots_and_robots_added_later_do_not_run() {
    let host = manual_host().await;
    let waiting = commenting(
        &host,
        "NEW",
        "never",
        json!({"timing": {"kind": "delay", "value": 1, "unit": "hours"}}),
    )
    .await;
    let deal = add_deal(&host, json!({"TITLE": "Moves on"})).await;
    pending(&host, deal, &waiting).await;
    host.move_deal(deal, "PREPARATION").await;
    let cancelled = runs_of(&host, deal, &waiting).await;
    assert_eq!(cancelled[0]["status"], "cancelled");
    assert_eq!(cancelled[0]["error"], "the item left the stage");

    let early = commenting(
        &host,
        "EXECUTING",
        "early",
        json!({"timing": {"kind": "delay", "value": 10, "unit": "minutes"}}),
    )
    .await;
    host.move_deal(deal, "EXECUTING").await;
    let late = commenting(&host, "EXECUTING", "late", json!({"after_previous": true})).await;
    advance(&host, 10 * MINUTE).await;
    finished(&host, deal, &early).await;
    let newcomer = add_deal(&host, json!({"TITLE": "Comes later", "STAGE_ID": "EXECUTING"})).await;
    advance(&host, 10 * MINUTE).await;
    finished(&host, newcomer, &late).await;
    assert!(
        runs_of(&host, deal, &late).await.is_empty(),
        "added after the deal entered the stage"
    );
    assert_eq!(host.comments(deal).await, ["early"]);
    assert_eq!(host.comments(newcomer).await, ["early", "late"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditions_are_checked_when_the_robot_is_due() {
    let host = manual_host().await;
    let big = commenting(
        &host,
        "NEW",
        "big deal",
        json!({
            "timing": {"kind": "delay", "value": 5, "unit": "minutes"},
            "condition": {"rules": [{"field": "OPPORTUNITY", "op": ">", "value": "1000"}]}
        }),
    )
    .await;
    let after_big = commenting(&host, "NEW", "after the big check", json!({"after_previous": true})).await;
    let vip = commenting(
        &host,
        "NEW",
        "vip",
        json!({"condition": {"logic": "or", "rules": [
            {"field": "SOURCE_ID", "op": "=", "value": "PARTNER"},
            {"field": "TITLE", "op": "contain", "value": "vip"}
        ]}}),
    )
    .await;

    let small = add_deal(&host, json!({"TITLE": "Small", "OPPORTUNITY": 500})).await;
    let grown = add_deal(&host, json!({"TITLE": "VIP grows", "OPPORTUNITY": 500})).await;
    host.ok("crm.deal.update", json!({"id": grown, "fields": {"OPPORTUNITY": 5000}}))
        .await;
    assert_eq!(finished(&host, grown, &vip).await["status"], "succeeded");
    assert_eq!(finished(&host, small, &vip).await["status"], "skipped");

    advance(&host, 5 * MINUTE).await;
    let skipped = finished(&host, small, &big).await;
    assert_eq!(skipped["status"], "skipped");
    assert!(
        skipped["error"].as_str().unwrap().contains("OPPORTUNITY > \"1000\""),
        "{skipped}"
    );
    assert_eq!(
        finished(&host, grown, &big).await["status"],
        "succeeded",
        "checked when due, not when scheduled"
    );
    assert_eq!(
        finished(&host, small, &after_big).await["status"],
        "succeeded",
        "a chain goes on past a skipped robot"
    );
    assert_eq!(finished(&host, grown, &after_big).await["status"], "succeeded");
    assert_eq!(host.comments(small).await, ["after the big check"]);
    assert_eq!(host.comments(grown).await, ["vip", "big deal", "after the big check"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_based_robots_run_around_a_date_field_and_at_once_when_late() {
    let host = manual_host().await;
    let before_close = commenting(
        &host,
        "NEW",
        "a day before closing",
        json!({"timing": {"kind": "before_field", "field": "CLOSEDATE", "value": 1, "unit": "days"}}),
    )
    .await;
    let after_begin = commenting(
        &host,
        "PREPARATION",
        "two hours in",
        json!({"timing": {"kind": "after_field", "field": "BEGINDATE", "value": 2, "unit": "hours"}}),
    )
    .await;
    let morning = commenting(
        &host,
        "EXECUTING",
        "good morning",
        json!({"timing": {"kind": "time_of_day", "at": "09:00"}}),
    )
    .await;

    let now = advance(&host, 0).await;
    let second = now - now % 1000;
    let iso = |at: i64| {
        chrono::DateTime::from_timestamp_millis(at)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S+00:00")
            .to_string()
    };
    let closing = add_deal(&host, json!({"TITLE": "Closing", "CLOSEDATE": iso(now + 3 * DAY)})).await;
    assert_eq!(
        pending(&host, closing, &before_close).await["due_at"],
        second + 2 * DAY,
        "dates are kept to the second"
    );
    let late = add_deal(&host, json!({"TITLE": "Late", "CLOSEDATE": iso(now - DAY)})).await;
    assert_eq!(
        finished(&host, late, &before_close).await["status"],
        "succeeded",
        "a past moment runs at once"
    );
    let undated = add_deal(&host, json!({"TITLE": "Undated"})).await;
    let failed = finished(&host, undated, &before_close).await;
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"].as_str().unwrap().contains("CLOSEDATE is empty"),
        "{failed}"
    );

    let begun = add_deal(&host, json!({"TITLE": "Begun", "STAGE_ID": "PREPARATION"})).await;
    let due = pending(&host, begun, &after_begin).await["due_at"].as_i64().unwrap();
    assert_eq!(
        due,
        second + 2 * HOUR,
        "BEGINDATE defaults to creation, kept to the second"
    );

    let early_bird = add_deal(&host, json!({"TITLE": "Morning", "STAGE_ID": "EXECUTING"})).await;
    let due = pending(&host, early_bird, &morning).await["due_at"].as_i64().unwrap();
    assert_eq!(due % DAY, 9 * HOUR, "09:00 UTC");
    assert!(due > now && due <= now + DAY, "the next 09:00");

    advance(&host, 2 * DAY).await;
    finished(&host, closing, &before_close).await;
    finished(&host, begun, &after_begin).await;
    finished(&host, early_bird, &morning).await;
    assert_eq!(host.comments(closing).await, ["a day before closing"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_fill_config_from_the_item_its_links_the_clock_and_earlier_robots() {
    let host = manual_host().await;
    let me = host.ok("user.current", json!({})).await;
    let company = host
        .ok("crm.company.add", json!({"fields": {"TITLE": "Acme"}}))
        .await
        .as_i64()
        .unwrap();
    let describe = commenting(
        &host,
        "NEW",
        "{=Document:TITLE} for {=Document:COMPANY_ID.TITLE}, {=Document:OPPORTUNITY} by {=Document:ASSIGNED_BY_ID.NAME} on {=System:Date}",
        json!({}),
    )
    .await;
    let refer = commenting(
        &host,
        "NEW",
        &format!("see comment {{={describe}:comment_id}}"),
        json!({"after_previous": true}),
    )
    .await;
    let broken = commenting(
        &host,
        "NEW",
        "{=Document:COMPANY_ID.NOPE}",
        json!({"after_previous": true}),
    )
    .await;

    let deal = add_deal(
        &host,
        json!({"TITLE": "Supply", "COMPANY_ID": company, "OPPORTUNITY": 1500, "ASSIGNED_BY_ID": 1}),
    )
    .await;
    let described = finished(&host, deal, &describe).await;
    finished(&host, deal, &refer).await;
    let failed = finished(&host, deal, &broken).await;
    assert_eq!(failed["status"], "failed");
    assert!(failed["error"].as_str().unwrap().contains("NOPE"), "{failed}");

    let today = chrono::DateTime::from_timestamp_millis(advance(&host, 0).await)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    let comments = host.comments(deal).await;
    assert_eq!(
        comments,
        [
            format!("Supply for Acme, 1500 by {} on {today}", me["NAME"].as_str().unwrap()),
            format!("see comment {}", described["return_values"]["comment_id"]),
        ]
    );

    let alone = add_deal(&host, json!({"TITLE": "No company"})).await;
    let missing = finished(&host, alone, &describe).await;
    assert_eq!(missing["status"], "failed");
    assert!(
        missing["error"].as_str().unwrap().contains("COMPANY_ID is empty"),
        "{missing}"
    );
    // The chain goes on past a failed run; no comment can still be on the way once its last robot ended.
    finished(&host, alone, &refer).await;
    finished(&host, alone, &broken).await;
    assert!(
        host.comments(alone).await.is_empty(),
        "a missing value is never an empty string"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_are_checked_updated_and_reordered_through_the_admin_api() {
    let host = manual_host().await;
    for (extra, expected) in [
        (json!({"config": {"text": "{=Document:NOPE}"}}), "names no field"),
        (json!({"config": {"text": "{=Bogus:X}"}}), "not a template"),
        (
            json!({"config": {"text": "x"}, "timing": {"kind": "delay", "value": -1, "unit": "minutes"}}),
            "timing value",
        ),
        (
            json!({"config": {"text": "x"}, "timing": {"kind": "before_field", "field": "TITLE"}}),
            "not a date field",
        ),
        (
            json!({"config": {"text": "x"}, "timing": {"kind": "time_of_day", "at": "25:00"}}),
            "HH:MM",
        ),
        (
            json!({"config": {"text": "x"}, "timing": {"kind": "sometime"}}),
            "unknown variant",
        ),
        (
            json!({"config": {"text": "x"}, "condition": {"rules": [{"field": "NOPE", "op": "=", "value": 1}]}}),
            "condition field NOPE",
        ),
        (
            json!({"config": {"text": "x"}, "condition": {"rules": [{"field": "TITLE", "op": "in", "value": "a"}]}}),
            "take a list",
        ),
    ] {
        let mut body = json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": "add-comment"});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        let (status, answer) = host.admin(Method::POST, "/api/v1/robots", Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let description = answer["error_description"].as_str().unwrap();
        assert!(description.contains(expected), "{body}: {description}");
    }
    let (_, none) = host.admin(Method::GET, "/api/v1/robots", None).await;
    assert_eq!(none["robots"], json!([]), "refused robots are not saved");

    let a = commenting(&host, "NEW", "a", json!({})).await;
    let b = commenting(
        &host,
        "NEW",
        "b",
        json!({"condition": {"rules": [{"field": "TITLE", "op": "!empty"}]}}),
    )
    .await;
    let (status, updated) = host
        .admin(
            Method::PUT,
            &format!("/api/v1/robots/{b}"),
            Some(json!({"timing": {"kind": "delay", "value": 2, "unit": "days"}, "condition": null, "config": {"text": "b2"}})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["timing"], json!({"kind": "delay", "value": 2, "unit": "days"}));
    assert_eq!(updated["condition"], Value::Null);
    assert_eq!(updated["config"], json!({"text": "b2"}));
    let (status, _) = host
        .admin(
            Method::PUT,
            &format!("/api/v1/robots/{b}"),
            Some(json!({"config": {"text": 3}})),
        )
        .await;
    assert_eq!(status, 400, "the plugin's schema still applies");

    let (status, reordered) = host
        .admin(
            Method::POST,
            "/api/v1/robots/reorder",
            Some(json!({"entity_type": "deal", "stage_id": "NEW", "robot_ids": [b, a]})),
        )
        .await;
    assert_eq!(status, 200, "{reordered}");
    let order: Vec<&str> = reordered["robots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(order, [b.as_str(), a.as_str()]);
    let (status, _) = host
        .admin(
            Method::POST,
            "/api/v1/robots/reorder",
            Some(json!({"entity_type": "deal", "stage_id": "NEW", "robot_ids": [a]})),
        )
        .await;
    assert_eq!(status, 400, "a reorder names every robot of the stage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_retries_a_failed_run_after_fixing_its_cause() {
    let host = manual_host().await;
    let robot_id = commenting(&host, "NEW", "for {=Document:COMPANY_ID.TITLE}", json!({})).await;
    let deal = add_deal(&host, json!({"TITLE": "No company yet"})).await;
    let failed = finished(&host, deal, &robot_id).await;
    assert_eq!(failed["status"], "failed");
    let (status, body) = host.admin(Method::POST, "/api/v1/runs/run_nope/retry", None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "NOT_FOUND");

    let company = host.ok("crm.company.add", json!({"fields": {"TITLE": "Acme"}})).await;
    host.ok(
        "crm.deal.update",
        json!({"id": deal, "fields": {"COMPANY_ID": company}}),
    )
    .await;
    let (status, retried) = host
        .admin(
            Method::POST,
            &format!("/api/v1/runs/{}/retry", failed["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["status"], "pending");
    assert_eq!(finished(&host, deal, &robot_id).await["status"], "succeeded");
    assert_eq!(host.comments(deal).await, ["for Acme"]);
    let (status, body) = host
        .admin(
            Method::POST,
            &format!("/api/v1/runs/{}/retry", failed["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 400, "only failed runs are retried: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_history_is_filtered_by_time_shown_on_the_timeline_and_forgotten_after_the_retention() {
    let host = TestHost::start_with(|s| {
        s.manual_clock = true;
        s.scheduler.retention = std::time::Duration::from_secs(7 * 86_400);
    })
    .await;
    let later = commenting(
        &host,
        "NEW",
        "later",
        json!({"timing": {"kind": "delay", "value": 1, "unit": "days"}}),
    )
    .await;
    let start = advance(&host, 0).await;
    let deal = add_deal(&host, json!({"TITLE": "Tracked"})).await;
    let path = |from: i64, to: i64| format!("/api/v1/runs?entity_type=deal&item_id={deal}&due_from={from}&due_to={to}");
    let (_, none) = host.admin(Method::GET, &path(start, start + DAY), None).await;
    assert_eq!(none["runs"], json!([]), "due a day later, not within the first day");
    let (_, one) = host.admin(Method::GET, &path(start + DAY, start + 2 * DAY), None).await;
    assert_eq!(one["runs"].as_array().unwrap().len(), 1, "{one}");

    advance(&host, DAY).await;
    finished(&host, deal, &later).await;
    advance(&host, MINUTE).await;
    host.move_deal(deal, "WON").await;
    let (status, timeline) = host
        .admin(
            Method::GET,
            &format!("/api/v1/timeline?entity_type=deal&item_id={deal}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{timeline}");
    let kinds: Vec<&str> = timeline["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["item_added", "comment_added", "robot_run", "stage_changed"]);
    assert_eq!(timeline["entries"][3]["payload"], json!({"old": "NEW", "new": "WON"}));

    advance(&host, 8 * DAY).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !host.runs(deal).await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "old runs were never forgotten");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulating_a_stage_shows_what_would_run_when_without_doing_it() {
    let host = manual_host().await;
    let greet = commenting(
        &host,
        "PREPARATION",
        "Hello {=Document:TITLE}",
        json!({"timing": {"kind": "delay", "value": 2, "unit": "hours"}}),
    )
    .await;
    let follow = commenting(
        &host,
        "PREPARATION",
        &format!("{{={greet}:comment_id}}"),
        json!({
            "after_previous": true,
            "timing": {"kind": "delay", "value": 1, "unit": "days"},
            "condition": {"rules": [{"field": "OPPORTUNITY", "op": ">", "value": 100}]}
        }),
    )
    .await;
    commenting(
        &host,
        "PREPARATION",
        "closing soon",
        json!({"timing": {"kind": "before_field", "field": "CLOSEDATE", "value": 1, "unit": "days"}}),
    )
    .await;
    let deal = add_deal(&host, json!({"TITLE": "Trial", "OPPORTUNITY": 50})).await;
    let at = advance(&host, 0).await + 10 * DAY;

    let (status, simulated) = host
        .admin(
            Method::POST,
            "/api/v1/simulate",
            Some(json!({"entity_type": "deal", "item_id": deal, "stage_id": "PREPARATION", "at": at})),
        )
        .await;
    assert_eq!(status, 200, "{simulated}");
    let runs = simulated["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3, "{simulated}");
    assert_eq!(runs[0]["due_at"], at + 2 * HOUR);
    assert_eq!(runs[0]["config"], json!({"text": "Hello Trial"}));
    assert_eq!(runs[1]["robot_id"], follow);
    assert_eq!(
        runs[1]["due_at"],
        at + 2 * HOUR + DAY,
        "after the first, by its own delay"
    );
    assert_eq!(runs[1]["condition_holds"], false);
    assert!(
        runs[1]["condition_error"].as_str().unwrap().contains("OPPORTUNITY"),
        "{simulated}"
    );
    assert_eq!(runs[1]["config"]["text"], format!("(returned by {greet} when it runs)"));
    assert!(
        runs[2]["due_error"].as_str().unwrap().contains("CLOSEDATE is empty"),
        "{simulated}"
    );

    assert!(host.runs(deal).await.is_empty(), "a simulation schedules nothing");
    assert_eq!(host.deal(deal).await["STAGE_ID"], "NEW", "and moves nothing");
    let (status, body) = host
        .admin(
            Method::POST,
            "/api/v1/simulate",
            Some(json!({"entity_type": "deal", "item_id": deal, "stage_id": "C9:NEW"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn working_time_delays_count_by_the_business_hours_calendar() {
    let host = manual_host().await;
    let (status, default) = host.admin(Method::GET, "/api/v1/calendar", None).await;
    assert_eq!(status, 200, "{default}");
    assert_eq!(
        default,
        json!({"work_days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00", "utc_offset_minutes": 0})
    );
    for bad in [
        json!({"work_days": [1, 8], "start": "09:00", "end": "18:00"}),
        json!({"work_days": [1], "start": "18:00", "end": "09:00"}),
        json!({"work_days": [], "start": "09:00", "end": "18:00"}),
        json!({"work_days": [1], "start": "9am", "end": "18:00"}),
    ] {
        let (status, body) = host.admin(Method::PUT, "/api/v1/calendar", Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let every_day = [1, 2, 3, 4, 5, 6, 7];
    let set = |calendar: Value| {
        let host = &host;
        async move {
            let (status, body) = host.admin(Method::PUT, "/api/v1/calendar", Some(calendar)).await;
            assert_eq!(status, 200, "{body}");
        }
    };
    let working = commenting(
        &host,
        "NEW",
        "after two working hours",
        json!({"timing": {"kind": "delay", "value": 2, "unit": "hours", "working_time": true}}),
    )
    .await;

    set(json!({"work_days": every_day, "start": "00:00", "end": "24:00"})).await;
    let now = advance(&host, 0).await;
    let always = add_deal(&host, json!({"TITLE": "Always open"})).await;
    assert_eq!(
        pending(&host, always, &working).await["due_at"],
        now + 2 * HOUR,
        "all time is working time"
    );

    set(json!({"work_days": every_day, "start": "00:00", "end": "00:01"})).await;
    let minute_a_day = add_deal(&host, json!({"TITLE": "One minute a day"})).await;
    let due = pending(&host, minute_a_day, &working).await["due_at"].as_i64().unwrap();
    assert!(
        due > now + 100 * DAY,
        "120 working minutes at one a day take months: {}",
        due - now
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_move_of_the_clock_passes_a_delay_of_months_and_a_move_too_far_is_refused() {
    let host = manual_host().await;
    let later = commenting(
        &host,
        "NEW",
        "a quarter later",
        json!({"timing": {"kind": "delay", "value": 90, "unit": "days"}}),
    )
    .await;
    let start = advance(&host, 0).await;
    let deal = add_deal(&host, json!({"TITLE": "Renewal"})).await;
    assert_eq!(pending(&host, deal, &later).await["due_at"], start + 90 * DAY);

    let (status, body) = host
        .admin(
            Method::POST,
            "/api/v1/clock/advance",
            Some(json!({"ms": 101_i64 * 366 * DAY})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "INVALID_ARG_VALUE", "{body}");
    assert!(
        body["error_description"].as_str().unwrap().contains("at most"),
        "{body}"
    );
    assert_eq!(
        advance(&host, 0).await,
        start,
        "a refused move leaves the clock where it was"
    );

    assert_eq!(advance(&host, 90 * DAY).await, start + 90 * DAY);
    assert_eq!(finished(&host, deal, &later).await["status"], "succeeded");
    assert_eq!(host.comments(deal).await, ["a quarter later"]);
}
