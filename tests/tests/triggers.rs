//! Triggers as an admin sets them up and integrations set them off: every kind, Bitrix24's
//! forward-only rule with candidates in stage order, conditions, webhook and application codes,
//! and quiet items on the manual clock.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::TestHost;

const DAY: i64 = 86_400_000;

/// Puts a trigger on a deal stage; `extra` adds condition or allow_backwards. Answers it.
async fn trigger(host: &TestHost, stage_id: &str, kind: Value, extra: Value) -> Value {
    let mut body = json!({"entity_type": "deal", "stage_id": stage_id, "trigger": kind});
    for (key, value) in extra.as_object().cloned().unwrap_or_default() {
        body[key] = value;
    }
    let (status, answer) = host.admin(Method::POST, "/api/v1/triggers", Some(body)).await;
    assert_eq!(status, 201, "adding trigger failed: {answer}");
    answer
}

async fn add_deal(host: &TestHost, fields: Value) -> i64 {
    host.ok("crm.deal.add", json!({"fields": fields}))
        .await
        .as_i64()
        .unwrap()
}

async fn stage_of(host: &TestHost, deal: i64) -> String {
    host.deal(deal).await["STAGE_ID"].as_str().unwrap().to_string()
}

/// Waits (up to 30 s) for the deal to reach a stage: moves made by the scheduler's sweep land a
/// moment after the clock moves.
async fn wait_for_stage(host: &TestHost, deal: i64, stage: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while stage_of(host, deal).await != stage {
        assert!(Instant::now() < deadline, "deal {deal} never reached {stage}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_change_moves_a_deal_forward_only_and_runs_the_new_stages_robots() {
    let host = TestHost::start().await;
    trigger(
        &host,
        "PREPARATION",
        json!({"kind": "field_changed", "field": "SOURCE_ID", "value": "WEB"}),
        json!({}),
    )
    .await;
    let robot = host
        .add_robot("PREPARATION", "add-comment", json!({"text": "prepared"}))
        .await;

    let fresh = add_deal(&host, json!({"TITLE": "Fresh"})).await;
    host.ok("crm.deal.update", json!({"id": fresh, "fields": {"SOURCE_ID": "CALL"}}))
        .await;
    assert_eq!(stage_of(&host, fresh).await, "NEW", "changed, but not to WEB");
    host.ok("crm.deal.update", json!({"id": fresh, "fields": {"SOURCE_ID": "WEB"}}))
        .await;
    assert_eq!(stage_of(&host, fresh).await, "PREPARATION");
    let runs = host.finished_runs(fresh, 1).await;
    assert_eq!(runs[0]["robot_id"], robot);
    assert_eq!(host.comments(fresh).await, ["prepared"]);

    let ahead = add_deal(&host, json!({"TITLE": "Ahead", "STAGE_ID": "EXECUTING"})).await;
    host.ok("crm.deal.update", json!({"id": ahead, "fields": {"SOURCE_ID": "WEB"}}))
        .await;
    assert_eq!(stage_of(&host, ahead).await, "EXECUTING", "triggers only move forward");

    trigger(
        &host,
        "NEW",
        json!({"kind": "field_changed", "field": "SOURCE_ID", "value": "PARTNER"}),
        json!({"allow_backwards": true}),
    )
    .await;
    host.ok(
        "crm.deal.update",
        json!({"id": ahead, "fields": {"SOURCE_ID": "PARTNER"}}),
    )
    .await;
    assert_eq!(
        stage_of(&host, ahead).await,
        "NEW",
        "unless the trigger allows moving back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_are_taken_in_stage_order_and_the_first_whose_condition_holds_wins() {
    let host = TestHost::start().await;
    trigger(&host, "EXECUTING", json!({"kind": "comment_added"}), json!({})).await;
    trigger(
        &host,
        "PREPAYMENT_INVOICE",
        json!({"kind": "comment_added"}),
        json!({"condition": {"rules": [{"field": "OPPORTUNITY", "op": ">", "value": 1000}]}}),
    )
    .await;
    let small = add_deal(&host, json!({"TITLE": "Small", "OPPORTUNITY": 500})).await;
    let big = add_deal(&host, json!({"TITLE": "Big", "OPPORTUNITY": 5000})).await;
    for deal in [small, big] {
        host.ok(
            "crm.timeline.comment.add",
            json!({"fields": {"ENTITY_ID": deal, "ENTITY_TYPE": "deal", "COMMENT": "called them"}}),
        )
        .await;
    }
    assert_eq!(stage_of(&host, small).await, "EXECUTING");
    assert_eq!(
        stage_of(&host, big).await,
        "PREPAYMENT_INVOICE",
        "the earlier stage's trigger comes first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_responsible_activities_and_tasks_move_a_deal_through_a_pipeline() {
    let host = TestHost::start().await;
    let pipeline = host
        .ok(
            "crm.category.add",
            json!({"entityTypeId": 2, "fields": {"name": "Service"}}),
        )
        .await["category"]["id"]
        .as_i64()
        .unwrap();
    let stage = |name: &str| format!("C{pipeline}:{name}");
    let manager = host
        .ok("user.add", json!({"EMAIL": "manager@example.com", "NAME": "Max"}))
        .await
        .as_i64()
        .unwrap();
    trigger(&host, &stage("PREPARATION"), json!({"kind": "item_created"}), json!({})).await;
    trigger(
        &host,
        &stage("PREPAYMENT_INVOICE"),
        json!({"kind": "responsible_changed", "user_id": manager}),
        json!({}),
    )
    .await;
    trigger(
        &host,
        &stage("EXECUTING"),
        json!({"kind": "activity_completed", "type_id": 2}),
        json!({}),
    )
    .await;
    trigger(
        &host,
        &stage("FINAL_INVOICE"),
        json!({"kind": "task_completed"}),
        json!({}),
    )
    .await;

    let deal = add_deal(&host, json!({"TITLE": "Repair", "CATEGORY_ID": pipeline})).await;
    assert_eq!(stage_of(&host, deal).await, stage("PREPARATION"), "moved on creation");
    host.ok("crm.deal.update", json!({"id": deal, "fields": {"ASSIGNED_BY_ID": 1}}))
        .await;
    assert_eq!(stage_of(&host, deal).await, stage("PREPARATION"), "another responsible");
    host.ok(
        "crm.deal.update",
        json!({"id": deal, "fields": {"ASSIGNED_BY_ID": manager}}),
    )
    .await;
    assert_eq!(stage_of(&host, deal).await, stage("PREPAYMENT_INVOICE"));

    let activity = |type_id: i64| json!({"fields": {"OWNER_TYPE_ID": 2, "OWNER_ID": deal, "TYPE_ID": type_id, "SUBJECT": "Call back", "RESPONSIBLE_ID": 1}});
    let meeting = host.ok("crm.activity.add", activity(1)).await;
    host.ok(
        "crm.activity.update",
        json!({"id": meeting, "fields": {"COMPLETED": "Y"}}),
    )
    .await;
    assert_eq!(
        stage_of(&host, deal).await,
        stage("PREPAYMENT_INVOICE"),
        "a meeting, not a call"
    );
    let call = host.ok("crm.activity.add", activity(2)).await;
    host.ok("crm.activity.update", json!({"id": call, "fields": {"COMPLETED": "Y"}}))
        .await;
    assert_eq!(stage_of(&host, deal).await, stage("EXECUTING"));

    let task = host
        .ok(
            "tasks.task.add",
            json!({"fields": {"TITLE": "Fix it", "RESPONSIBLE_ID": manager, "UF_CRM_TASK": [format!("D_{deal}")]}}),
        )
        .await["task"]["id"]
        .clone();
    host.ok("tasks.task.update", json!({"taskId": task, "fields": {"STATUS": 5}}))
        .await;
    assert_eq!(stage_of(&host, deal).await, stage("FINAL_INVOICE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_and_application_triggers_fire_by_code() {
    let host = TestHost::start().await;
    let webhook = trigger(&host, "WON", json!({"kind": "webhook"}), json!({})).await;
    let code = webhook["trigger"]["code"]
        .as_str()
        .expect("a generated code")
        .to_string();
    let deal = add_deal(&host, json!({"TITLE": "Paid online"})).await;

    let fired = host
        .ok(
            "crm.automation.trigger",
            json!({"target": format!("DEAL_{deal}"), "code": "other"}),
        )
        .await;
    assert_eq!(fired, true);
    assert_eq!(stage_of(&host, deal).await, "NEW", "another code moves nothing");
    host.ok(
        "crm.automation.trigger",
        json!({"target": format!("DEAL_{deal}"), "code": code}),
    )
    .await;
    assert_eq!(stage_of(&host, deal).await, "WON");
    for bad in [
        json!({"code": code}),
        json!({"target": "DEAL", "code": code}),
        json!({"target": "DEAL_999", "code": code}),
        json!({"target": "SHIP_1", "code": code}),
    ] {
        let (status, body) = host.rest("crm.automation.trigger", bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }

    let (status, body) = host
        .admin(
            Method::POST,
            "/api/v1/triggers",
            Some(
                json!({"entity_type": "deal", "stage_id": "FINAL_INVOICE", "trigger": {"kind": "app", "code": "PAID"}}),
            ),
        )
        .await;
    assert_eq!(status, 400, "the code is not registered yet: {body}");
    host.ok(
        "crm.automation.trigger.add",
        json!({"CODE": "PAID", "NAME": "Invoice paid"}),
    )
    .await;
    assert_eq!(
        host.ok("crm.automation.trigger.list", json!({})).await,
        json!([{"CODE": "PAID", "NAME": "Invoice paid"}])
    );
    trigger(
        &host,
        "FINAL_INVOICE",
        json!({"kind": "app", "code": "PAID"}),
        json!({}),
    )
    .await;
    let invoiced = add_deal(&host, json!({"TITLE": "Invoiced"})).await;
    host.ok(
        "crm.automation.trigger.execute",
        json!({"CODE": "PAID", "OWNER_TYPE_ID": 2, "OWNER_ID": invoiced}),
    )
    .await;
    assert_eq!(stage_of(&host, invoiced).await, "FINAL_INVOICE");

    host.ok("crm.automation.trigger.delete", json!({"CODE": "PAID"})).await;
    let (_, listed) = host.admin(Method::GET, "/api/v1/triggers?entity_type=deal", None).await;
    let kinds: Vec<&str> = listed["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trigger"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["webhook"], "deleting the code removed its triggers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_deals_move_after_days_without_activity() {
    let host = TestHost::start_with(|s| s.manual_clock = true).await;
    trigger(&host, "LOSE", json!({"kind": "no_activity", "days": 3}), json!({})).await;
    let forgotten = add_deal(&host, json!({"TITLE": "Forgotten"})).await;
    let busy = add_deal(&host, json!({"TITLE": "Busy"})).await;
    let advance = |ms: i64| {
        let host = &host;
        async move {
            let (status, body) = host
                .admin(Method::POST, "/api/v1/clock/advance", Some(json!({"ms": ms})))
                .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    advance(2 * DAY).await;
    host.ok(
        "crm.timeline.comment.add",
        json!({"fields": {"ENTITY_ID": busy, "ENTITY_TYPE": "deal", "COMMENT": "still talking"}}),
    )
    .await;
    advance(DAY + 60_000).await;
    wait_for_stage(&host, forgotten, "LOSE").await;
    assert_eq!(stage_of(&host, busy).await, "NEW", "a comment a day ago is activity");
    advance(2 * DAY).await;
    wait_for_stage(&host, busy, "LOSE").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_trigger_definitions_are_refused() {
    let host = TestHost::start().await;
    for (kind, expected) in [
        (
            json!({"kind": "field_changed", "field": "STAGE_ID"}),
            "other than its stage",
        ),
        (json!({"kind": "field_changed", "field": "NOPE"}), "NOPE"),
        (json!({"kind": "no_activity", "days": 0}), "1 to 3650"),
        (json!({"kind": "webhook", "code": "no spaces"}), "letters, digits"),
        (json!({"kind": "teleport"}), "unknown variant"),
    ] {
        let body = json!({"entity_type": "deal", "stage_id": "WON", "trigger": kind});
        let (status, answer) = host.admin(Method::POST, "/api/v1/triggers", Some(body)).await;
        assert_eq!(status, 400, "{kind}: {answer}");
        let description = answer["error_description"].as_str().unwrap();
        assert!(description.contains(expected), "{kind}: {description}");
    }
    let (_, listed) = host.admin(Method::GET, "/api/v1/triggers", None).await;
    assert_eq!(listed["triggers"], json!([]));
}
