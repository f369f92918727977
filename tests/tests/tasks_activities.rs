//! Tasks (`tasks.task.*`) and CRM activities (`crm.activity.*`): the work robots and people give
//! each other, bound to CRM items, with bad input refused.

use serde_json::{Value, json};
use stagewright_tests::TestHost;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_are_added_bound_to_deals_completed_and_listed() {
    let host = TestHost::start().await;
    let deal = host.add_deal("Fit-out").await;
    let added = host
        .ok(
            "tasks.task.add",
            json!({"fields": {"TITLE": "Send the quote", "RESPONSIBLE_ID": 1, "DEADLINE": "2026-12-01T09:00:00+00:00", "PRIORITY": 2, "UF_CRM_TASK": [format!("D_{deal}")]}}),
        )
        .await;
    let task = &added["task"];
    assert_eq!(task["title"], "Send the quote");
    assert_eq!(task["status"], "2");
    assert_eq!(task["priority"], "2");
    assert_eq!(task["createdBy"], "1");
    assert_eq!(task["deadline"], "2026-12-01T09:00:00+00:00");
    assert_eq!(task["ufCrmTask"], json!([format!("D_{deal}")]));
    assert_eq!(task["closedDate"], Value::Null);
    let id = task["id"].clone();

    let got = host.ok("tasks.task.get", json!({"taskId": id})).await;
    assert_eq!(got["task"], *task);

    let done = host
        .ok("tasks.task.update", json!({"taskId": id, "fields": {"STATUS": 5}}))
        .await;
    assert_eq!(done["task"]["status"], "5");
    assert!(done["task"]["closedDate"].is_string(), "{done}");

    host.ok(
        "tasks.task.add",
        json!({"fields": {"TITLE": "Second", "RESPONSIBLE_ID": 1}}),
    )
    .await;
    let open = host
        .ok(
            "tasks.task.list",
            json!({"filter": {"!STATUS": 5}, "order": {"ID": "DESC"}}),
        )
        .await;
    let titles: Vec<&str> = open["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Second"]);
    let (_, due) = host
        .rest(
            "tasks.task.list",
            json!({"filter": {"<DEADLINE": "2026-12-02", "RESPONSIBLE_ID": 1}}),
        )
        .await;
    assert_eq!(due["total"], 1, "{due}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tasks_are_refused_and_change_nothing() {
    let host = TestHost::start().await;
    host.ok(
        "tasks.task.add",
        json!({"fields": {"TITLE": "Keep", "RESPONSIBLE_ID": 1}}),
    )
    .await;
    let before = host.ok("tasks.task.list", json!({})).await;
    let bad = [
        ("tasks.task.add", json!({"fields": {"RESPONSIBLE_ID": 1}})),
        ("tasks.task.add", json!({"fields": {"TITLE": "Nobody"}})),
        (
            "tasks.task.add",
            json!({"fields": {"TITLE": "Ghost", "RESPONSIBLE_ID": 99}}),
        ),
        (
            "tasks.task.add",
            json!({"fields": {"TITLE": "Bad deal", "RESPONSIBLE_ID": 1, "UF_CRM_TASK": ["D_999"]}}),
        ),
        (
            "tasks.task.add",
            json!({"fields": {"TITLE": "Bad ref", "RESPONSIBLE_ID": 1, "UF_CRM_TASK": ["X_1"]}}),
        ),
        (
            "tasks.task.add",
            json!({"fields": {"TITLE": "When", "RESPONSIBLE_ID": 1, "DEADLINE": "tomorrow"}}),
        ),
        (
            "tasks.task.add",
            json!({"fields": {"TITLE": "Odd", "RESPONSIBLE_ID": 1, "COLOUR": "red"}}),
        ),
        ("tasks.task.update", json!({"taskId": 1, "fields": {"STATUS": 9}})),
        ("tasks.task.update", json!({"taskId": 1, "fields": {"PRIORITY": 7}})),
        (
            "tasks.task.update",
            json!({"taskId": 42, "fields": {"TITLE": "Missing"}}),
        ),
        ("tasks.task.list", json!({"filter": {"SHOE_SIZE": 1}})),
    ];
    for (method, params) in bad {
        let (status, body) = host.rest(method, params.clone()).await;
        assert_eq!(status, 400, "{method} {params}: {body}");
    }
    assert_eq!(host.ok("tasks.task.list", json!({})).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activities_sit_on_an_items_timeline() {
    let host = TestHost::start().await;
    let deal = host.add_deal("Office move").await;
    let other = host.add_deal("Elsewhere").await;
    let call = host
        .ok(
            "crm.activity.add",
            json!({"fields": {"OWNER_TYPE_ID": 2, "OWNER_ID": deal, "TYPE_ID": 2, "SUBJECT": "Call the client",
                "START_TIME": "2026-12-01T10:00:00+00:00", "END_TIME": "2026-12-01T10:30:00+00:00", "DIRECTION": 2}}),
        )
        .await;
    host.ok(
        "crm.activity.add",
        json!({"fields": {"OWNER_TYPE_ID": 2, "OWNER_ID": deal, "TYPE_ID": 6, "SUBJECT": "Prepare the contract", "DEADLINE": "2026-12-03"}}),
    )
    .await;
    host.ok(
        "crm.activity.add",
        json!({"fields": {"OWNER_TYPE_ID": 2, "OWNER_ID": other, "TYPE_ID": 1, "SUBJECT": "Meet"}}),
    )
    .await;

    let got = host.ok("crm.activity.get", json!({"id": call})).await;
    assert_eq!(got["SUBJECT"], "Call the client");
    assert_eq!(
        got["RESPONSIBLE_ID"], "1",
        "the caller is responsible unless told otherwise"
    );
    assert_eq!(got["COMPLETED"], "N");
    assert_eq!(got["END_TIME"], "2026-12-01T10:30:00+00:00");

    let (_, on_deal) = host
        .rest(
            "crm.activity.list",
            json!({"filter": {"OWNER_TYPE_ID": 2, "OWNER_ID": deal}, "order": {"ID": "ASC"}}),
        )
        .await;
    assert_eq!(on_deal["total"], 2, "{on_deal}");
    assert_eq!(on_deal["result"][1]["DEADLINE"], "2026-12-03T00:00:00+00:00");

    host.ok("crm.activity.update", json!({"id": call, "fields": {"COMPLETED": "Y"}}))
        .await;
    let open = host
        .ok(
            "crm.activity.list",
            json!({"filter": {"OWNER_ID": deal, "COMPLETED": "N"}}),
        )
        .await;
    assert_eq!(open.as_array().unwrap().len(), 1);
    assert_eq!(open[0]["SUBJECT"], "Prepare the contract");

    assert_eq!(host.ok("crm.activity.delete", json!({"id": call})).await, true);
    let (status, body) = host.rest("crm.activity.get", json!({"id": call})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("NOT_FOUND")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_activities_are_refused_and_change_nothing() {
    let host = TestHost::start().await;
    let deal = host.add_deal("Target").await;
    let id = host
        .ok(
            "crm.activity.add",
            json!({"fields": {"OWNER_TYPE_ID": 2, "OWNER_ID": deal, "TYPE_ID": 2, "SUBJECT": "Keep"}}),
        )
        .await;
    let before = host.ok("crm.activity.list", json!({})).await;
    let bad = [
        (
            "crm.activity.add",
            json!({"fields": {"OWNER_TYPE_ID": 2, "OWNER_ID": 999, "TYPE_ID": 2, "SUBJECT": "No deal"}}),
        ),
        (
            "crm.activity.add",
            json!({"fields": {"OWNER_TYPE_ID": 2, "TYPE_ID": 2, "SUBJECT": "Half owner"}}),
        ),
        (
            "crm.activity.add",
            json!({"fields": {"OWNER_TYPE_ID": 2, "OWNER_ID": deal, "TYPE_ID": 4, "SUBJECT": "E-mail"}}),
        ),
        (
            "crm.activity.add",
            json!({"fields": {"OWNER_TYPE_ID": 2, "OWNER_ID": deal, "TYPE_ID": 2}}),
        ),
        (
            "crm.activity.add",
            json!({"fields": {"OWNER_TYPE_ID": 2, "OWNER_ID": deal, "TYPE_ID": 2, "SUBJECT": "x", "RESPONSIBLE_ID": 77}}),
        ),
        (
            "crm.activity.add",
            json!({"fields": {"OWNER_TYPE_ID": 2, "OWNER_ID": deal, "TYPE_ID": 2, "SUBJECT": "x",
            "START_TIME": "2026-12-01T10:00:00Z", "END_TIME": "2026-12-01T09:00:00Z"}}),
        ),
        ("crm.activity.update", json!({"id": id, "fields": {"PRIORITY": 9}})),
        (
            "crm.activity.update",
            json!({"id": id, "fields": {"OWNER_TYPE_ID": 1, "OWNER_ID": 1}}),
        ),
        (
            "crm.activity.update",
            json!({"id": id, "fields": {"COMPLETED": "maybe"}}),
        ),
        ("crm.activity.list", json!({"filter": {"OWNER_TYPE_ID": 42}})),
    ];
    for (method, params) in bad {
        let (status, body) = host.rest(method, params.clone()).await;
        assert_eq!(status, 400, "{method} {params}: {body}");
    }
    assert_eq!(host.ok("crm.activity.list", json!({})).await, before);
}
