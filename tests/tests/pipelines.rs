//! Pipelines and stages as an admin shapes them over REST (`crm.category.*`, `crm.status.*`), and
//! deals living in them.

use serde_json::{Value, json};
use stagewright_tests::TestHost;

fn stage_ids(stages: &Value) -> Vec<&str> {
    stages
        .as_array()
        .expect("a list of stages")
        .iter()
        .map(|s| s["STATUS_ID"].as_str().expect("STATUS_ID"))
        .collect()
}

async fn stage_id_of(host: &TestHost, entity_id: &str, status_id: &str) -> Value {
    let stages = host
        .ok("crm.status.list", json!({"filter": {"ENTITY_ID": entity_id}}))
        .await;
    stages
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["STATUS_ID"] == status_id)
        .unwrap_or_else(|| panic!("{status_id} in {stages}"))["ID"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_deal_pipeline_gets_prefixed_stages_and_takes_deals() {
    let host = TestHost::start().await;
    let added = host
        .ok(
            "crm.category.add",
            json!({"entityTypeId": 2, "fields": {"name": "Wholesale", "sort": 200}}),
        )
        .await;
    let category = &added["category"];
    assert_eq!(category["name"], "Wholesale");
    assert_eq!(category["sort"], 200);
    assert_eq!(category["isDefault"], "N");
    assert_eq!(category["entityTypeId"], 2);
    let id = category["id"].as_i64().unwrap();
    assert!(id > 0);

    let got = host.ok("crm.category.get", json!({"entityTypeId": 2, "id": id})).await;
    assert_eq!(got["category"], *category);
    let listed = host.ok("crm.category.list", json!({"entityTypeId": 2})).await;
    let names: Vec<&str> = listed["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["General", "Wholesale"]);

    let id_text = id.to_string();
    let entity_id = format!("DEAL_STAGE_{id}");
    let stages = host
        .ok("crm.status.list", json!({"filter": {"ENTITY_ID": entity_id}}))
        .await;
    let expected: Vec<String> = [
        "NEW",
        "PREPARATION",
        "PREPAYMENT_INVOICE",
        "EXECUTING",
        "FINAL_INVOICE",
        "WON",
        "LOSE",
        "APOLOGY",
    ]
    .iter()
    .map(|s| format!("C{id}:{s}"))
    .collect();
    assert_eq!(stage_ids(&stages), expected);
    assert!(
        stages
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["CATEGORY_ID"].as_str() == Some(id_text.as_str()))
    );

    let deal = host
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "Pallets", "CATEGORY_ID": id}}),
        )
        .await;
    let deal = host.deal(deal.as_i64().unwrap()).await;
    assert_eq!(deal["CATEGORY_ID"], id.to_string());
    assert_eq!(deal["STAGE_ID"], format!("C{id}:NEW"));

    let (status, body) = host
        .rest(
            "crm.deal.update",
            json!({"id": deal["ID"], "fields": {"STAGE_ID": "PREPARATION"}}),
        )
        .await;
    assert_eq!(status, 400, "a stage of another pipeline is refused: {body}");
    assert_eq!(
        host.deal(deal["ID"].as_str().unwrap().parse().unwrap()).await["STAGE_ID"],
        format!("C{id}:NEW")
    );
    host.ok(
        "crm.deal.update",
        json!({"id": deal["ID"], "fields": {"STAGE_ID": format!("C{id}:EXECUTING")}}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_are_renamed_and_only_empty_non_default_ones_are_deleted() {
    let host = TestHost::start().await;
    let id = host
        .ok(
            "crm.category.add",
            json!({"entityTypeId": 2, "fields": {"name": "Retail"}}),
        )
        .await["category"]["id"]
        .as_i64()
        .unwrap();
    let updated = host
        .ok(
            "crm.category.update",
            json!({"entityTypeId": 2, "id": id, "fields": {"name": "Retail EU", "sort": 5}}),
        )
        .await;
    assert_eq!(updated["category"]["name"], "Retail EU");
    assert_eq!(updated["category"]["sort"], 5);

    let (status, body) = host
        .rest("crm.category.delete", json!({"entityTypeId": 2, "id": 0}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("INVALID_ARG_VALUE")),
        "{body}"
    );

    let deal = host
        .ok("crm.deal.add", json!({"fields": {"TITLE": "Shop", "CATEGORY_ID": id}}))
        .await;
    let (status, body) = host
        .rest("crm.category.delete", json!({"entityTypeId": 2, "id": id}))
        .await;
    assert_eq!(status, 400, "a pipeline with deals stays: {body}");
    assert!(body["error_description"].as_str().unwrap().contains("items"), "{body}");

    host.ok("crm.deal.delete", json!({"id": deal})).await;
    assert_eq!(
        host.ok("crm.category.delete", json!({"entityTypeId": 2, "id": id}))
            .await,
        Value::Null
    );
    let (status, body) = host
        .rest("crm.category.get", json!({"entityTypeId": 2, "id": id}))
        .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("NOT_FOUND")), "{body}");
    let stages = host
        .ok(
            "crm.status.list",
            json!({"filter": {"ENTITY_ID": format!("DEAL_STAGE_{id}")}}),
        )
        .await;
    assert_eq!(stages, json!([]), "its stages went with it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_are_added_updated_and_deleted_within_the_rules() {
    let host = TestHost::start().await;
    let added = host
        .ok(
            "crm.status.add",
            json!({"fields": {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "NEGOTIATION", "NAME": "Negotiation", "SORT": 35, "COLOR": "#39A8EF"}}),
        )
        .await;
    let id = added.as_i64().expect("crm.status.add answers the new id");
    let stage = host.ok("crm.status.get", json!({"id": id})).await;
    assert_eq!(stage["STATUS_ID"], "NEGOTIATION");
    assert_eq!(stage["COLOR"], "#39A8EF");
    let stages = host
        .ok("crm.status.list", json!({"filter": {"ENTITY_ID": "DEAL_STAGE"}}))
        .await;
    assert_eq!(
        stage_ids(&stages)[..5],
        ["NEW", "PREPARATION", "PREPAYMENT_INVOICE", "NEGOTIATION", "EXECUTING"]
    );

    assert_eq!(
        host.ok(
            "crm.status.update",
            json!({"id": id, "fields": {"NAME": "Haggling", "SORT": 15}})
        )
        .await,
        true
    );
    let stage = host.ok("crm.status.get", json!({"id": id})).await;
    assert_eq!(
        (stage["NAME"].as_str(), stage["SORT"].as_str()),
        (Some("Haggling"), Some("15"))
    );
    assert_eq!(stage["COLOR"], "#39A8EF", "an update keeps what it does not name");

    let deal = host.add_deal("Talks").await;
    host.move_deal(deal, "NEGOTIATION").await;
    let (status, body) = host.rest("crm.status.delete", json!({"id": id})).await;
    assert_eq!(status, 400, "a stage with deals in it stays: {body}");
    host.move_deal(deal, "EXECUTING").await;
    assert_eq!(host.ok("crm.status.delete", json!({"id": id})).await, true);
    let stages = host
        .ok("crm.status.list", json!({"filter": {"ENTITY_ID": "DEAL_STAGE"}}))
        .await;
    assert!(!stage_ids(&stages).contains(&"NEGOTIATION"));

    let won = stage_id_of(&host, "DEAL_STAGE", "WON").await;
    let (status, body) = host.rest("crm.status.delete", json!({"id": won})).await;
    assert_eq!(status, 400, "the success stage stays: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_pipeline_and_stage_input_is_refused_and_changes_nothing() {
    let host = TestHost::start().await;
    let before = host.ok("crm.status.list", json!({})).await;
    let categories_before = host.ok("crm.category.list", json!({"entityTypeId": 2})).await;
    let bad = [
        ("crm.category.add", json!({"entityTypeId": 2, "fields": {"name": "  "}})),
        (
            "crm.category.add",
            json!({"entityTypeId": 2, "fields": {"name": "X", "isDefault": "Y"}}),
        ),
        (
            "crm.category.add",
            json!({"entityTypeId": 3, "fields": {"name": "Contacts"}}),
        ),
        (
            "crm.category.add",
            json!({"entityTypeId": 99, "fields": {"name": "Nope"}}),
        ),
        (
            "crm.category.update",
            json!({"entityTypeId": 2, "id": 42, "fields": {"name": "Ghost"}}),
        ),
        (
            "crm.category.update",
            json!({"entityTypeId": 2, "id": 0, "fields": {"sort": "high"}}),
        ),
        (
            "crm.status.add",
            json!({"fields": {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "NEW", "NAME": "Again"}}),
        ),
        (
            "crm.status.add",
            json!({"fields": {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "BIG WIN", "NAME": "x"}}),
        ),
        (
            "crm.status.add",
            json!({"fields": {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "WON2", "NAME": "x", "SEMANTICS": "S"}}),
        ),
        (
            "crm.status.add",
            json!({"fields": {"ENTITY_ID": "DEAL_STAGE_77", "STATUS_ID": "X", "NAME": "x"}}),
        ),
        (
            "crm.status.add",
            json!({"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "X", "NAME": "x"}}),
        ),
        (
            "crm.status.add",
            json!({"fields": {"ENTITY_ID": "STATUS", "STATUS_ID": "X", "NAME": "x", "COLOR": "red"}}),
        ),
        (
            "crm.status.update",
            json!({"id": 1, "fields": {"STATUS_ID": "RENAMED"}}),
        ),
        ("crm.status.delete", json!({"id": 999_999})),
    ];
    for (method, params) in bad {
        let (status, body) = host.rest(method, params.clone()).await;
        assert_eq!(status, 400, "{method} {params}: {body}");
        assert!(
            body["error"].is_string() && body["error_description"].is_string(),
            "{body}"
        );
    }
    assert_eq!(host.ok("crm.status.list", json!({})).await, before);
    assert_eq!(
        host.ok("crm.category.list", json!({"entityTypeId": 2})).await,
        categories_before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lead_statuses_can_be_extended() {
    let host = TestHost::start().await;
    host.ok(
        "crm.status.add",
        json!({"fields": {"ENTITY_ID": "STATUS", "STATUS_ID": "QUALIFIED", "NAME": "Qualified", "SORT": 25}}),
    )
    .await;
    let lead = host
        .ok(
            "crm.lead.add",
            json!({"fields": {"TITLE": "Inbound", "STATUS_ID": "QUALIFIED"}}),
        )
        .await;
    let lead = host.ok("crm.lead.get", json!({"id": lead})).await;
    assert_eq!(lead["STATUS_ID"], "QUALIFIED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_items_stage_semantics_follow_its_stage() {
    let host = TestHost::start().await;
    let open = host.add_deal("Open").await;
    let won = host.add_deal("Won").await;
    host.move_deal(won, "WON").await;
    let lost = host.add_deal("Lost").await;
    host.move_deal(lost, "LOSE").await;

    let deal = host.deal(open).await;
    assert_eq!(
        (deal["STAGE_SEMANTIC_ID"].as_str(), deal["CLOSED"].as_str()),
        (Some("P"), Some("N"))
    );
    let deal = host.deal(won).await;
    assert_eq!(
        (deal["STAGE_SEMANTIC_ID"].as_str(), deal["CLOSED"].as_str()),
        (Some("S"), Some("Y"))
    );
    let deal = host.deal(lost).await;
    assert_eq!(
        (deal["STAGE_SEMANTIC_ID"].as_str(), deal["CLOSED"].as_str()),
        (Some("F"), Some("Y"))
    );

    let closed = host
        .ok(
            "crm.deal.list",
            json!({"filter": {"!STAGE_SEMANTIC_ID": "P"}, "order": {"ID": "ASC"}, "select": ["ID"]}),
        )
        .await;
    assert_eq!(closed, json!([{"ID": won.to_string()}, {"ID": lost.to_string()}]));

    let (status, body) = host
        .rest("crm.deal.update", json!({"id": open, "fields": {"CLOSED": "Y"}}))
        .await;
    assert_eq!(status, 400, "derived fields are read-only: {body}");

    let lead = host
        .ok(
            "crm.lead.add",
            json!({"fields": {"TITLE": "Junk", "STATUS_ID": "JUNK"}}),
        )
        .await;
    let lead = host.ok("crm.lead.get", json!({"id": lead})).await;
    assert_eq!(lead["STATUS_SEMANTIC_ID"], "F");
    assert!(lead.get("CLOSED").is_none(), "leads have no CLOSED flag: {lead}");
}
