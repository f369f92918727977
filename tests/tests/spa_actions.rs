//! The smart-process actions (create, edit, get, delete an SPA item) as robots on deal stages:
//! a deal drives its contract through a smart process, as Bitrix24's SPA automation does.

use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::TestHost;

/// Attaches a robot to a deal stage with extra settings; returns its id.
async fn robot(host: &TestHost, stage_id: &str, plugin_id: &str, config: Value, after_previous: bool) -> String {
    let body = json!({"entity_type": "deal", "stage_id": stage_id, "plugin_id": plugin_id, "config": config, "after_previous": after_previous});
    let (status, answer) = host.admin(Method::POST, "/api/v1/robots", Some(body)).await;
    assert_eq!(status, 201, "adding robot failed: {answer}");
    answer["id"].as_str().unwrap().to_string()
}

/// Creates a smart process; returns its entityTypeId and a function naming its default
/// pipeline's stages.
async fn contracts(host: &TestHost) -> (i64, impl Fn(&str) -> String) {
    let spa = host.ok("crm.type.add", json!({"fields": {"title": "Contracts"}})).await["type"].clone();
    let type_id = spa["entityTypeId"].as_i64().unwrap();
    let category = host.ok("crm.category.list", json!({"entityTypeId": type_id})).await["categories"][0]["id"]
        .as_i64()
        .unwrap();
    (type_id, move |stage: &str| format!("DT{type_id}_{category}:{stage}"))
}

async fn spa_items(host: &TestHost, type_id: i64) -> Vec<Value> {
    host.ok("crm.item.list", json!({"entityTypeId": type_id})).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deal_drives_its_contract_through_smart_process_robots() {
    let host = TestHost::start().await;
    let (type_id, stage) = contracts(&host).await;
    let find = json!({"TITLE": "Contract for {=Document:TITLE}"});
    robot(
        &host,
        "PREPARATION",
        "create-spa-item",
        json!({"entity_type_id": type_id, "title": "Contract for {=Document:TITLE}", "stage_id": stage("PREPARATION"), "opportunity": "{=Document:OPPORTUNITY}"}),
        false,
    )
    .await;
    let get = robot(
        &host,
        "FINAL_INVOICE",
        "get-spa-item",
        json!({"entity_type_id": type_id, "filter": find, "select": ["OPPORTUNITY"]}),
        false,
    )
    .await;
    robot(
        &host,
        "FINAL_INVOICE",
        "add-comment",
        json!({"text": format!("Invoice for contract {{={get}:ID}}: {{={get}:OPPORTUNITY}}")}),
        true,
    )
    .await;
    robot(
        &host,
        "WON",
        "edit-spa-item",
        json!({"entity_type_id": type_id, "filter": find, "fields": {"STAGE_ID": stage("SUCCESS")}}),
        false,
    )
    .await;

    let deal = host
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "Office fit-out", "OPPORTUNITY": 4200}}),
        )
        .await
        .as_i64()
        .unwrap();
    host.move_deal(deal, "PREPARATION").await;
    host.finished_runs(deal, 1).await;
    let items = spa_items(&host, type_id).await;
    assert_eq!(items.len(), 1, "{items:#?}");
    let contract = &items[0];
    assert_eq!(contract["title"], "Contract for Office fit-out");
    assert_eq!(contract["stageId"], stage("PREPARATION"));
    assert_eq!(contract["opportunity"], 4200.0);
    assert_eq!(contract["assignedById"], 1, "the deal's responsible");

    host.move_deal(deal, "FINAL_INVOICE").await;
    let runs = host.finished_runs(deal, 3).await;
    assert!(runs.iter().all(|r| r["status"] == "succeeded"), "{runs:#?}");
    assert_eq!(
        host.comments(deal).await,
        [format!("Invoice for contract {}: 4200.00", contract["id"])]
    );

    host.move_deal(deal, "WON").await;
    host.finished_runs(deal, 4).await;
    assert_eq!(spa_items(&host, type_id).await[0]["stageId"], stage("SUCCESS"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_actions_refuse_bad_config_and_report_what_they_cannot_find() {
    let host = TestHost::start().await;
    let (type_id, _) = contracts(&host).await;
    let (status, body) = host
        .admin(
            Method::POST,
            "/api/v1/robots",
            Some(json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": "create-spa-item", "config": {"entity_type_id": type_id}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("\"title\" is a required property"),
        "{body}"
    );

    let created = robot(
        &host,
        "NEW",
        "create-spa-item",
        json!({"entity_type_id": type_id, "title": "Temporary"}),
        false,
    )
    .await;
    robot(
        &host,
        "NEW",
        "delete-spa-item",
        json!({"entity_type_id": type_id, "id": format!("{{={created}:id}}")}),
        true,
    )
    .await;
    robot(
        &host,
        "NEW",
        "edit-spa-item",
        json!({"entity_type_id": type_id, "filter": {"TITLE": "Temporary"}, "fields": {"TITLE": "Kept"}}),
        true,
    )
    .await;
    robot(
        &host,
        "NEW",
        "create-spa-item",
        json!({"entity_type_id": 190, "title": "Nowhere"}),
        true,
    )
    .await;
    let deal = host.add_deal("Short-lived contract").await;
    let runs = host.finished_runs(deal, 4).await;
    let statuses: Vec<&str> = runs.iter().rev().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["succeeded", "succeeded", "failed", "failed"], "{runs:#?}");
    assert!(
        spa_items(&host, type_id).await.is_empty(),
        "created, then deleted by its id"
    );
    let edit_error = runs[1]["error"].as_str().unwrap();
    assert!(edit_error.contains("no item of smart process"), "{edit_error}");
    let create_error = runs[0]["error"].as_str().unwrap();
    assert!(create_error.contains("190"), "{create_error}");
}

/// Runs due together are claimed and finished as one batch. When one run's writes cannot be
/// applied next to an earlier run's (the item it edits was deleted by that run), that run fails
/// with the reason and the others keep their effects, each committed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_changes_clash_with_its_batch_fails_alone() {
    let host = TestHost::start_with(|s| {
        s.manual_clock = true;
        s.scheduler.workers = 1;
    })
    .await;
    let (type_id, _) = contracts(&host).await;
    let contract = host
        .ok(
            "crm.item.add",
            json!({"entityTypeId": type_id, "fields": {"title": "Framework contract"}}),
        )
        .await["item"]["id"]
        .as_i64()
        .unwrap();
    let in_a_minute = json!({"timing": {"kind": "delay", "value": 60, "unit": "seconds"}});
    let delete = host
        .add_robot_with(
            "PREPARATION",
            "delete-spa-item",
            json!({"entity_type_id": type_id, "id": contract}),
            in_a_minute.clone(),
        )
        .await;
    let edit = host
        .add_robot_with(
            "EXECUTING",
            "edit-spa-item",
            json!({"entity_type_id": type_id, "filter": {"ID": contract}, "fields": {"TITLE": "Renamed"}}),
            in_a_minute.clone(),
        )
        .await;
    let comment = host
        .add_robot_with(
            "FINAL_INVOICE",
            "add-comment",
            json!({"text": "Invoice sent"}),
            in_a_minute,
        )
        .await;
    let deals = [
        ("Deletes", "PREPARATION"),
        ("Edits", "EXECUTING"),
        ("Comments", "FINAL_INVOICE"),
    ];
    let mut ids = Vec::new();
    for (title, stage) in deals {
        let id = host.add_deal(title).await;
        host.move_deal(id, stage).await;
        ids.push(id);
    }
    host.advance_clock(60_000).await;

    let deleted = host.finished_run(ids[0], &delete).await;
    assert_eq!(deleted["status"], "succeeded", "{deleted}");
    let edited = host.finished_run(ids[1], &edit).await;
    assert_eq!(edited["status"], "failed", "{edited}");
    let why = edited["error"].as_str().unwrap();
    assert!(why.contains("could not be applied"), "{why}");
    let commented = host.finished_run(ids[2], &comment).await;
    assert_eq!(commented["status"], "succeeded", "{commented}");
    assert_eq!(host.comments(ids[2]).await, ["Invoice sent"]);
    assert!(spa_items(&host, type_id).await.is_empty());
}
