//! Smart processes (`crm.type.*`) and the universal item methods (`crm.item.*`) as an integration
//! uses them over REST: admin-defined types with their own pipelines and stage ids, items with
//! camelCase fields, filtered lists with `logic: OR`, and the same methods on deals.

use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::TestHost;

/// Creates a smart process and returns its type object.
async fn add_type(host: &TestHost, fields: Value) -> Value {
    host.ok("crm.type.add", json!({"fields": fields})).await["type"].clone()
}

fn status_ids(stages: &Value) -> Vec<&str> {
    stages
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| s["STATUS_ID"].as_str().expect("STATUS_ID"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_defines_a_smart_process_with_its_own_pipeline() {
    let host = TestHost::start().await;
    let spa = add_type(&host, json!({"title": "Contracts", "isCategoriesEnabled": "N"})).await;
    assert_eq!(spa["title"], "Contracts");
    assert_eq!(spa["entityTypeId"], 128, "the first free id Bitrix24 would give");
    assert_eq!(spa["isCategoriesEnabled"], "N");
    assert_eq!(spa["isSetOpenPermissions"], "Y", "defaults are Bitrix24's");
    let id = spa["id"].as_i64().unwrap();
    assert_eq!(host.ok("crm.type.get", json!({"id": id})).await["type"], spa);

    let chosen = add_type(&host, json!({"title": "Projects", "entityTypeId": 1032})).await;
    assert_eq!(chosen["entityTypeId"], 1032);
    let listed = host.ok("crm.type.list", json!({})).await;
    let titles: Vec<&str> = listed["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Contracts", "Projects"]);

    let categories = host.ok("crm.category.list", json!({"entityTypeId": 128})).await;
    let default = &categories["categories"][0];
    assert_eq!(default["isDefault"], "Y");
    let category = default["id"].as_i64().unwrap();
    let entity_id = format!("DYNAMIC_128_STAGE_{category}");
    let stages = host
        .ok("crm.status.list", json!({"filter": {"ENTITY_ID": entity_id}}))
        .await;
    let prefix = format!("DT128_{category}:");
    let expected: Vec<String> = ["NEW", "PREPARATION", "CLIENT", "SUCCESS", "FAIL"]
        .iter()
        .map(|s| format!("{prefix}{s}"))
        .collect();
    assert_eq!(status_ids(&stages), expected);

    let (status, body) = host
        .rest(
            "crm.category.add",
            json!({"entityTypeId": 128, "fields": {"name": "Second"}}),
        )
        .await;
    assert_eq!(status, 400, "pipelines are off for this type: {body}");
    host.ok(
        "crm.type.update",
        json!({"id": id, "fields": {"title": "Signed contracts", "isCategoriesEnabled": "Y"}}),
    )
    .await;
    let second = host
        .ok(
            "crm.category.add",
            json!({"entityTypeId": 128, "fields": {"name": "Second"}}),
        )
        .await["category"]["id"]
        .as_i64()
        .unwrap();
    let item = host
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 128, "fields": {"title": "In the second", "categoryId": second}}),
        )
        .await["item"]
        .clone();
    assert_eq!(item["categoryId"], second);
    assert_eq!(item["stageId"], format!("DT128_{second}:NEW"));
    let renamed = host.ok("crm.type.get", json!({"id": id})).await["type"].clone();
    assert_eq!(renamed["title"], "Signed contracts");
    assert_eq!(renamed["isCategoriesEnabled"], "Y");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_type_definitions_are_refused_and_change_nothing() {
    let host = TestHost::start().await;
    add_type(&host, json!({"title": "Taken", "entityTypeId": 1030})).await;
    for bad in [
        json!({"entityTypeId": 1040}),
        json!({"title": "", "entityTypeId": 1040}),
        json!({"title": "Odd id", "entityTypeId": 1031}),
        json!({"title": "Built-in id", "entityTypeId": 2}),
        json!({"title": "Taken id", "entityTypeId": 1030}),
        json!({"title": "Unknown switch", "isTeleportEnabled": "Y"}),
        json!({"title": "Not a flag", "isStagesEnabled": "maybe"}),
    ] {
        let (status, body) = host.rest("crm.type.add", json!({"fields": bad})).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["error_description"].as_str().is_some_and(|d| !d.is_empty()),
            "{body}"
        );
    }
    let listed = host.ok("crm.type.list", json!({})).await;
    assert_eq!(listed["types"].as_array().unwrap().len(), 1, "{listed}");

    let user = host
        .ok("user.add", json!({"EMAIL": "clerk@example.com", "NAME": "Clerk"}))
        .await
        .as_i64()
        .unwrap();
    let (status, hook) = host
        .admin(Method::POST, "/api/v1/webhooks", Some(json!({"user_id": user})))
        .await;
    assert_eq!(status, 201, "{hook}");
    let (status, body) = host
        .rest_via(
            hook["path"].as_str().unwrap(),
            "crm.type.add",
            json!({"fields": {"title": "Mine"}}),
        )
        .await;
    assert_eq!(status, 403, "only CRM administrators define types: {body}");
    assert_eq!(body["error"], "ACCESS_DENIED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smart_process_items_live_through_crm_item_with_camel_case_fields() {
    let host = TestHost::start().await;
    let spa = add_type(&host, json!({"title": "Contracts"})).await;
    let type_id = spa["entityTypeId"].as_i64().unwrap();
    let added = host
        .ok(
            "crm.item.add",
            json!({"entityTypeId": type_id, "fields": {
                "title": "Supply contract", "opportunity": "1500.5", "currencyId": "EUR",
                "assignedById": 1, "closedate": "2026-12-31"
            }}),
        )
        .await["item"]
        .clone();
    let id = added["id"].as_i64().expect("a numeric id");
    assert_eq!(added["title"], "Supply contract");
    assert_eq!(added["opportunity"], 1500.5, "typed, not text");
    assert_eq!(added["assignedById"], 1);
    assert_eq!(added["closedate"], "2026-12-31T00:00:00+00:00");
    assert_eq!(added["createdBy"], 1);
    assert!(added["createdTime"].as_str().is_some_and(|t| t.ends_with("+00:00")));
    let stage = added["stageId"].as_str().unwrap().to_string();
    assert!(
        stage.starts_with(&format!("DT{type_id}_")) && stage.ends_with(":NEW"),
        "{stage}"
    );
    assert_eq!(added["stageSemanticId"], "P");

    let got = host
        .ok("crm.item.get", json!({"entityTypeId": type_id, "id": id}))
        .await;
    assert_eq!(got["item"], added);

    let won = stage.replace(":NEW", ":SUCCESS");
    let updated = host
        .ok(
            "crm.item.update",
            json!({"entityTypeId": type_id, "id": id, "fields": {"stageId": won, "title": "Signed"}}),
        )
        .await["item"]
        .clone();
    assert_eq!(updated["stageId"], won);
    assert_eq!(updated["stageSemanticId"], "S");
    assert_eq!(updated["title"], "Signed");
    assert_eq!(updated["opportunity"], 1500.5, "fields not named stay");

    let bad_writes = [
        json!({"nope": 1}),
        json!({"opportunity": "lots"}),
        json!({"stageId": "DT999_1:NEW"}),
        json!({"stageId": "WON"}),
        json!({"id": 77}),
        json!({"createdTime": "2020-01-01"}),
    ];
    for bad in bad_writes {
        let (status, body) = host
            .rest(
                "crm.item.update",
                json!({"entityTypeId": type_id, "id": id, "fields": bad}),
            )
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let after = host
        .ok("crm.item.get", json!({"entityTypeId": type_id, "id": id}))
        .await;
    assert_eq!(after["item"], updated, "refused writes changed nothing");

    let (status, body) = host.rest("crm.item.get", json!({"entityTypeId": 190, "id": id})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("NOT_FOUND")), "{body}");

    let (status, body) = host.rest("crm.type.delete", json!({"id": spa["id"]})).await;
    assert_eq!(status, 400, "a type with items stays: {body}");
    let deleted = host
        .ok("crm.item.delete", json!({"entityTypeId": type_id, "id": id}))
        .await;
    assert_eq!(deleted, json!([]));
    let (status, body) = host
        .rest("crm.item.get", json!({"entityTypeId": type_id, "id": id}))
        .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("NOT_FOUND")), "{body}");
    host.ok("crm.type.delete", json!({"id": spa["id"]})).await;
    let (status, _) = host.rest("crm.item.list", json!({"entityTypeId": type_id})).await;
    assert_eq!(status, 400, "a deleted type's items cannot be listed");
    let categories = host.ok("crm.type.list", json!({})).await;
    assert_eq!(categories["types"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_item_list_filters_with_or_groups_orders_and_pages() {
    let host = TestHost::start().await;
    let type_id = add_type(&host, json!({"title": "Tickets"})).await["entityTypeId"]
        .as_i64()
        .unwrap();
    let mut commands = serde_json::Map::new();
    for i in 0..60 {
        let title = if i % 10 == 0 {
            format!("Urgent {i}")
        } else {
            format!("Ticket {i}")
        };
        let title = title.replace(' ', "%20");
        let query = format!("entityTypeId={type_id}&fields[title]={title}&fields[opportunity]={i}");
        commands.insert(format!("c{i}"), json!(format!("crm.item.add?{query}")));
        if commands.len() == 50 || i == 59 {
            let answer = host.ok("batch", json!({"halt": 1, "cmd": commands})).await;
            assert_eq!(answer["result_error"], json!([]), "{answer}");
            commands = serde_json::Map::new();
        }
    }

    let filter = json!({
        "logic": "OR",
        "0": {">=opportunity": 55},
        "1": {"%title": "urgent", "<opportunity": 30}
    });
    let listed = host
        .rest(
            "crm.item.list",
            json!({"entityTypeId": type_id, "filter": filter, "order": {"opportunity": "DESC"}, "select": ["title"]}),
        )
        .await
        .1;
    let titles: Vec<&str> = listed["result"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Ticket 59",
            "Ticket 58",
            "Ticket 57",
            "Ticket 56",
            "Ticket 55",
            "Urgent 20",
            "Urgent 10",
            "Urgent 0"
        ]
    );
    assert_eq!(listed["total"], 8);
    let first = &listed["result"]["items"][0];
    assert_eq!(
        first.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["id", "title"],
        "select keeps id and the named fields"
    );

    let page = host
        .rest(
            "crm.item.list",
            json!({"entityTypeId": type_id, "order": {"id": "ASC"}, "filter": {"!=%title": "Urgent%"}}),
        )
        .await
        .1;
    assert_eq!(page["total"], 54);
    assert_eq!(page["next"], 50);
    assert_eq!(page["result"]["items"].as_array().unwrap().len(), 50);
    let rest = host
        .rest(
            "crm.item.list",
            json!({"entityTypeId": type_id, "order": {"id": "ASC"}, "filter": {"!=%title": "Urgent%"}, "start": 50}),
        )
        .await
        .1;
    assert_eq!(rest["result"]["items"].as_array().unwrap().len(), 4);
    assert!(rest.get("next").is_none(), "{rest}");

    for bad in [
        json!({"filter": {"nosuch": 1}}),
        json!({"filter": {"logic": "XOR", "0": {"title": "a"}}}),
        json!({"order": {"title": "SIDEWAYS"}}),
        json!({"select": ["nosuch"]}),
    ] {
        let mut params = bad.clone();
        params["entityTypeId"] = json!(type_id);
        let (status, body) = host.rest("crm.item.list", params).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_item_works_on_deals_with_custom_fields_under_both_names() {
    let host = TestHost::start().await;
    host.ok(
        "crm.deal.userfield.add",
        json!({"fields": {"FIELD_NAME": "TOWN", "USER_TYPE_ID": "string"}}),
    )
    .await;
    let item = host
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "Via crm.item", "opportunity": 10, "ufCrm_TOWN": "Riga"}}),
        )
        .await["item"]
        .clone();
    assert_eq!(item["stageId"], "NEW");
    assert_eq!(item["categoryId"], 0);
    assert_eq!(item["ufCrm_TOWN"], "Riga");
    assert_eq!(item["closed"], "N");
    let id = item["id"].as_i64().unwrap();

    let deal = host.deal(id).await;
    assert_eq!(deal["TITLE"], "Via crm.item");
    assert_eq!(deal["UF_CRM_TOWN"], "Riga", "the same item through crm.deal.get");
    assert_eq!(deal["OPPORTUNITY"], "10.00");

    let original = host
        .ok(
            "crm.item.get",
            json!({"entityTypeId": 2, "id": id, "useOriginalUfNames": "Y"}),
        )
        .await;
    assert_eq!(original["item"]["UF_CRM_TOWN"], "Riga");
    assert!(original["item"].get("ufCrm_TOWN").is_none());

    let fields = host.ok("crm.item.fields", json!({"entityTypeId": 2})).await;
    assert_eq!(fields["fields"]["assignedById"]["upperName"], "ASSIGNED_BY_ID");
    assert_eq!(fields["fields"]["ufCrm_TOWN"]["upperName"], "UF_CRM_TOWN");
    assert_eq!(fields["fields"]["stageId"]["type"], "crm_status");

    host.ok(
        "crm.item.update",
        json!({"entityTypeId": 2, "id": id, "fields": {"UF_CRM_TOWN": "Tallinn"}}),
    )
    .await;
    let listed = host
        .ok(
            "crm.item.list",
            json!({"entityTypeId": 2, "filter": {"ufCrm_TOWN": "Tallinn"}}),
        )
        .await;
    let ids: Vec<i64> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [id]);

    let lead = host
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 1, "fields": {"title": "A lead", "name": "Ann", "lastName": "Lee"}}),
        )
        .await["item"]
        .clone();
    assert_eq!(lead["stageId"], "NEW", "a lead's STATUS_ID is crm.item's stageId");
    assert_eq!(lead["lastName"], "Lee");
    let lead_id = lead["id"].as_i64().unwrap();
    let via_lead = host.ok("crm.lead.get", json!({"id": lead_id})).await;
    assert_eq!(via_lead["STATUS_ID"], "NEW");
    assert_eq!(via_lead["LAST_NAME"], "Lee");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_smart_process_counts_its_own_item_ids_even_when_added_again() {
    let host = TestHost::start().await;
    let contracts = add_type(&host, json!({"title": "Contracts", "entityTypeId": 1030})).await;
    let invoices = add_type(&host, json!({"title": "Invoices", "entityTypeId": 1032})).await;
    let add = |type_id: i64, title: String| {
        let host = &host;
        async move {
            host.ok(
                "crm.item.add",
                json!({"entityTypeId": type_id, "fields": {"title": title}}),
            )
            .await["item"]["id"]
                .as_i64()
                .expect("item id")
        }
    };
    let (a, b, c, d, e, f) = tokio::join!(
        add(1030, "Contract 1".into()),
        add(1030, "Contract 2".into()),
        add(1030, "Contract 3".into()),
        add(1030, "Contract 4".into()),
        add(1030, "Contract 5".into()),
        add(1030, "Contract 6".into()),
    );
    let mut ids = [a, b, c, d, e, f];
    ids.sort_unstable();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6], "adds at once each get an id of their own");
    assert_eq!(add(1032, "Invoice".into()).await, 1, "another type counts apart");

    for id in ids {
        host.ok("crm.item.delete", json!({"entityTypeId": 1030, "id": id}))
            .await;
    }
    host.ok("crm.type.delete", json!({"id": contracts["id"]})).await;
    add_type(&host, json!({"title": "Contracts again", "entityTypeId": 1030})).await;
    assert_eq!(
        add(1030, "Contract 7".into()).await,
        7,
        "a type added again does not hand out its old items' ids"
    );
    assert_eq!(invoices["entityTypeId"], 1032);
}
