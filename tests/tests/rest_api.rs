//! The Bitrix24-style REST API as an integration uses it: CRUD, lists, and clear errors for bad
//! input that change nothing.

use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::TestHost;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deals_are_added_read_updated_and_deleted() {
    let host = TestHost::start().await;
    let id = host
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "Boxes", "OPPORTUNITY": "1500.5", "CURRENCY_ID": "EUR"}}),
        )
        .await;
    let deal = host.deal(id.as_i64().unwrap()).await;
    assert_eq!(deal["ID"], id.as_i64().unwrap().to_string());
    assert_eq!(deal["TITLE"], "Boxes");
    assert_eq!(deal["OPPORTUNITY"], "1500.50");
    assert_eq!(deal["STAGE_ID"], "NEW");
    assert_eq!(deal["CATEGORY_ID"], "0");

    let updated = host
        .ok("crm.deal.update", json!({"id": id, "fields": {"TITLE": "Crates"}}))
        .await;
    assert_eq!(updated, true);
    assert_eq!(host.deal(id.as_i64().unwrap()).await["TITLE"], "Crates");

    assert_eq!(host.ok("crm.deal.delete", json!({"id": id})).await, true);
    let (status, body) = host.rest("crm.deal.get", json!({"id": id})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_filter_order_and_page_fifty_at_a_time() {
    let host = TestHost::start().await;
    for n in 1..=120 {
        host.ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": format!("Deal {n}"), "OPPORTUNITY": n * 10}}),
        )
        .await;
    }
    let filter = json!({">=OPPORTUNITY": 200, "%TITLE": "Deal"});
    let order = json!({"OPPORTUNITY": "DESC"});
    let page = |start: i64| json!({"filter": filter, "order": order, "select": ["TITLE"], "start": start});

    let (status, first) = host.rest("crm.deal.list", page(0)).await;
    assert_eq!(status, 200);
    assert_eq!(first["total"], 101);
    assert_eq!(first["next"], 50);
    assert_eq!(first["result"].as_array().unwrap().len(), 50);
    assert_eq!(first["result"][0], json!({"ID": "120", "TITLE": "Deal 120"}));

    let (_, last) = host.rest("crm.deal.list", page(100)).await;
    assert_eq!(last["result"].as_array().unwrap().len(), 1);
    assert_eq!(last["result"][0]["TITLE"], "Deal 20");
    assert!(last.get("next").is_none(), "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_encoded_php_style_parameters_work_like_json() {
    let host = TestHost::start().await;
    let url = format!("{}crm.deal.add", host.server.webhook_url());
    let body: Value = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("fields[TITLE]=Form%20deal&fields[OPPORTUNITY]=42")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let deal = host.deal(body["result"].as_i64().unwrap()).await;
    assert_eq!(deal["TITLE"], "Form deal");
    assert_eq!(deal["OPPORTUNITY"], "42.00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let host = TestHost::start().await;
    let deal = host.add_deal("Stable").await;

    let cases = [
        (
            "crm.deal.add",
            json!({"fields": {"TITLE": "x", "NO_SUCH_FIELD": 1}}),
            "unknown field NO_SUCH_FIELD",
        ),
        (
            "crm.deal.add",
            json!({"fields": {"TITLE": "x", "OPPORTUNITY": "a lot"}}),
            "field OPPORTUNITY",
        ),
        ("crm.deal.add", json!({"fields": {"TITLE": "x", "ID": 99}}), "read-only"),
        (
            "crm.deal.update",
            json!({"id": deal, "fields": {"STAGE_ID": "NOWHERE"}}),
            "unknown stage NOWHERE",
        ),
        (
            "crm.deal.update",
            json!({"id": deal, "fields": "TITLE"}),
            "must be array",
        ),
        ("crm.deal.get", json!({"id": "abc"}), "ID is not defined or invalid"),
        (
            "crm.deal.list",
            json!({"filter": {"NO_SUCH_FIELD": 1}}),
            "unknown field NO_SUCH_FIELD",
        ),
    ];
    for (method, params, expected) in cases {
        let (status, body) = host.rest(method, params.clone()).await;
        assert_eq!(status, 400, "{method} {params}: {body}");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(expected), "{method} {params}: {description}");
    }

    let deals = host.ok("crm.deal.list", json!({})).await;
    assert_eq!(deals.as_array().unwrap().len(), 1);
    let after = host.deal(deal).await;
    assert_eq!(
        (after["TITLE"].as_str(), after["STAGE_ID"].as_str()),
        (Some("Stable"), Some("NEW"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_errors_use_the_bitrix24_error_shape() {
    let host = TestHost::start().await;
    let client = reqwest::Client::new();
    let hook = host.server.webhook_url();

    let malformed = client
        .post(format!("{hook}crm.deal.add"))
        .header("content-type", "application/json");
    let response = malformed.body("{\"fields\": ").send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "INVALID_REQUEST");

    let response = client.post(format!("{hook}crm.nothing.here")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "ERROR_METHOD_NOT_FOUND"
    );

    let bad_token = hook.replace(&host.server.webhook_token, "wrongtoken");
    let response = client.post(format!("{bad_token}crm.deal.list")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "INVALID_CREDENTIALS");

    let huge = format!("{{\"fields\": {{\"TITLE\": \"{}\"}}}}", "x".repeat(3 << 20));
    let response = client
        .post(format!("{hook}crm.deal.add"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "REQUEST_TOO_LARGE");

    assert_eq!(host.ok("crm.deal.list", json!({})).await, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_with_bad_definitions_are_refused() {
    let host = TestHost::start().await;
    let cases = [
        (
            json!({"entity_type": "deal", "stage_id": "WON", "plugin_id": "no-such-plugin"}),
            "not installed",
        ),
        (
            json!({"entity_type": "deal", "stage_id": "NOWHERE", "plugin_id": "add-comment", "config": {"text": "x"}}),
            "unknown stage",
        ),
        (
            json!({"entity_type": "deal", "stage_id": "WON", "plugin_id": "add-comment", "colour": "red"}),
            "unknown field `colour`",
        ),
        (
            json!({"entity_type": "deal", "stage_id": "WON", "plugin_id": "add-comment", "config": [1]}),
            "is not of type \"object\"",
        ),
        (
            json!({"entity_type": "deal", "stage_id": "WON", "plugin_id": "add-comment", "config": {"text": 5}}),
            "config does not match plugin add-comment's schema: /text: 5 is not of type \"string\"",
        ),
        (
            json!({"entity_type": "deal", "stage_id": "WON", "plugin_id": "add-comment", "plugin_version": "^9", "config": {"text": "x"}}),
            "no installed version of plugin add-comment meets ^9",
        ),
    ];
    for (robot, expected) in cases {
        let (status, body) = host.admin(Method::POST, "/api/v1/robots", Some(robot.clone())).await;
        assert_eq!(status, 400, "{robot}: {body}");
        assert!(
            body["error_description"].as_str().unwrap().contains(expected),
            "{robot}: {body}"
        );
    }
    let (_, robots) = host.admin(Method::GET, "/api/v1/robots", None).await;
    assert_eq!(robots["robots"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_clock_moves_only_when_an_admin_advances_it() {
    let host = TestHost::start_with(|s| s.manual_clock = true).await;
    let deal = host.add_deal("Timed").await;
    let created = host.deal(deal).await["DATE_CREATE"].clone();

    let (status, body) = host
        .admin(Method::POST, "/api/v1/clock/advance", Some(json!({"ms": 86_400_000})))
        .await;
    assert_eq!(status, 200, "{body}");
    host.ok(
        "crm.deal.update",
        json!({"id": deal, "fields": {"TITLE": "Timed, a day later"}}),
    )
    .await;
    let after = host.deal(deal).await;

    assert_eq!(after["DATE_CREATE"], created);
    assert_eq!(seconds(&after["DATE_MODIFY"]) - seconds(&created), 86_400, "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_clock_cannot_be_advanced() {
    let host = TestHost::start().await;
    let (status, body) = host
        .admin(Method::POST, "/api/v1/clock/advance", Some(json!({"ms": 1000})))
        .await;
    assert_eq!(status, 409);
    assert_eq!(body["error"], "CLOCK_NOT_MANUAL");
}

/// Seconds since the epoch of a REST datetime ("2024-05-01T10:00:00+00:00").
fn seconds(value: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_runs_commands_in_order_with_references_to_earlier_results() {
    let host = TestHost::start().await;
    let cmd = json!({
        "a": "crm.deal.add?fields[TITLE]=First",
        "b": "crm.deal.get?id=$result[a]",
        "c": "crm.deal.update?id=$result[a]&fields[TITLE]=$result[b][TITLE] again",
        "missing": "crm.deal.get?id=999",
        "d": "crm.deal.list?filter[ID]=$result[a]",
    });
    let result = host.ok("batch", json!({"halt": 0, "cmd": cmd})).await;

    assert_eq!(result["result"]["a"], 1);
    assert_eq!(result["result"]["b"]["TITLE"], "First");
    assert_eq!(result["result"]["c"], true);
    assert_eq!(result["result_error"]["missing"]["error"], "NOT_FOUND");
    assert_eq!(result["result_total"]["d"], 1);
    assert_eq!(host.deal(1).await["TITLE"], "First again");

    let halted = host
        .ok(
            "batch",
            json!({"halt": 1, "cmd": {"bad": "crm.deal.get?id=999", "never": "crm.deal.add?fields[TITLE]=Never"}}),
        )
        .await;
    assert_eq!(halted["result_error"]["bad"]["error"], "NOT_FOUND");
    assert!(halted["result"].get("never").is_none(), "{halted}");
    assert_eq!(host.ok("crm.deal.list", json!({})).await.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_install_has_bitrix24_default_pipelines() {
    let host = TestHost::start().await;
    let stages = host
        .ok("crm.status.list", json!({"filter": {"ENTITY_ID": "DEAL_STAGE"}}))
        .await;
    let ids: Vec<&str> = stages
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["STATUS_ID"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "NEW",
            "PREPARATION",
            "PREPAYMENT_INVOICE",
            "EXECUTING",
            "FINAL_INVOICE",
            "WON",
            "LOSE",
            "APOLOGY"
        ]
    );
    let won = stages
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["STATUS_ID"] == "WON")
        .unwrap();
    assert_eq!(won["SEMANTICS"], "S");

    let statuses = host
        .ok("crm.status.list", json!({"filter": {"ENTITY_ID": "STATUS"}}))
        .await;
    let ids: Vec<&str> = statuses
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["STATUS_ID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["NEW", "IN_PROCESS", "PROCESSED", "JUNK", "CONVERTED"]);

    let pipelines = host.ok("crm.category.list", json!({"entityTypeId": 2})).await;
    assert_eq!(pipelines["categories"][0]["id"], 0);
    assert_eq!(pipelines["categories"][0]["isDefault"], "Y");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_and_email_lists_change_entry_by_entry_and_find_contacts() {
    let host = TestHost::start().await;
    let ann = host
        .ok(
            "crm.contact.add",
            json!({"fields": {"NAME": "Ann", "PHONE": [{"VALUE": "+1 555 0100", "VALUE_TYPE": "WORK"}, {"VALUE": "+1 555 0199", "VALUE_TYPE": "MOBILE"}],
                "EMAIL": [{"VALUE": "ann@example.com"}]}}),
        )
        .await;
    host.ok(
        "crm.contact.add",
        json!({"fields": {"NAME": "Bob", "EMAIL": "bob@example.com"}}),
    )
    .await;
    let contact = host.ok("crm.contact.get", json!({"id": ann})).await;
    assert_eq!(
        contact["PHONE"],
        json!([
            {"ID": "1", "VALUE_TYPE": "WORK", "VALUE": "+1 555 0100", "TYPE_ID": "PHONE"},
            {"ID": "2", "VALUE_TYPE": "MOBILE", "VALUE": "+1 555 0199", "TYPE_ID": "PHONE"},
        ])
    );
    assert_eq!(contact["EMAIL"][0]["VALUE_TYPE"], "WORK", "WORK is the default type");

    host.ok(
        "crm.contact.update",
        json!({"id": ann, "fields": {"PHONE": [{"ID": 1, "VALUE": "+1 555 0101"}, {"ID": 2, "DELETE": "Y"}, {"VALUE": "+44 20 7946 0000", "VALUE_TYPE": "HOME"}]}}),
    )
    .await;
    let phones: Vec<(String, String)> = host.ok("crm.contact.get", json!({"id": ann})).await["PHONE"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["ID"].as_str().unwrap().to_string(),
                p["VALUE"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        phones,
        [
            ("1".to_string(), "+1 555 0101".to_string()),
            ("3".to_string(), "+44 20 7946 0000".to_string())
        ]
    );
    let contact = host.ok("crm.contact.get", json!({"id": ann})).await;
    assert_eq!(
        contact["EMAIL"][0]["VALUE"], "ann@example.com",
        "a list not written stays"
    );

    let found = host
        .ok(
            "crm.contact.list",
            json!({"filter": {"EMAIL": "bob@example.com"}, "select": ["NAME"]}),
        )
        .await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["NAME"], "Bob");
    let found = host
        .ok(
            "crm.contact.list",
            json!({"filter": {"@PHONE": ["+1 555 0101", "+1 000"]}, "select": ["NAME"]}),
        )
        .await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["NAME"], "Ann");

    let before = host.ok("crm.contact.get", json!({"id": ann})).await;
    for bad in [
        json!({"PHONE": [{"VALUE": "call me"}]}),
        json!({"EMAIL": [{"VALUE": "not-an-address"}]}),
        json!({"PHONE": [{"VALUE": "+1 555 0102", "VALUE_TYPE": "CARRIER_PIGEON"}]}),
        json!({"PHONE": [{"ID": 99, "VALUE": "+1 555 0103"}]}),
        json!({"PHONE": [{"VALUE_TYPE": "WORK"}]}),
        json!({"PHONE": 5551234}),
    ] {
        let (status, body) = host
            .rest("crm.contact.update", json!({"id": ann, "fields": bad.clone()}))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    assert_eq!(host.ok("crm.contact.get", json!({"id": ann})).await, before);
    let (status, _) = host.rest("crm.contact.list", json!({"order": {"PHONE": "ASC"}})).await;
    assert_eq!(status, 400, "a list of values cannot order a list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deal_dates_default_normalize_and_filter() {
    let host = TestHost::start().await;
    let soon = host
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "Soon", "CLOSEDATE": "2026-12-31"}}),
        )
        .await;
    let later = host
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "Later", "BEGINDATE": "2027-01-10T09:00:00+03:00", "CLOSEDATE": "2027-03-01"}}),
        )
        .await;
    let deal = host.deal(soon.as_i64().unwrap()).await;
    assert_eq!(
        deal["BEGINDATE"], deal["DATE_CREATE"],
        "a deal begins when it is created unless told"
    );
    assert_eq!(deal["CLOSEDATE"], "2026-12-31T00:00:00+00:00");
    let deal = host.deal(later.as_i64().unwrap()).await;
    assert_eq!(deal["BEGINDATE"], "2027-01-10T06:00:00+00:00", "times are kept in UTC");

    let closing = host
        .ok(
            "crm.deal.list",
            json!({"filter": {"<=CLOSEDATE": "2027-01-01"}, "select": ["TITLE"]}),
        )
        .await;
    assert_eq!(closing, json!([{"ID": soon.to_string(), "TITLE": "Soon"}]));
    let (status, body) = host
        .rest(
            "crm.deal.update",
            json!({"id": soon, "fields": {"CLOSEDATE": "next week"}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_hanging_up_mid_request_never_break_later_writes() {
    let host = TestHost::start().await;
    let url = format!("{}crm.deal.add", host.server.webhook_url());
    let mut abandoned = Vec::new();
    for n in 0..300u64 {
        let impatient = reqwest::Client::builder()
            .timeout(std::time::Duration::from_micros(200 + (n % 30) * 150))
            .build()
            .unwrap();
        let url = url.clone();
        abandoned.push(tokio::spawn(async move {
            impatient
                .post(url)
                .json(&json!({"fields": {"TITLE": format!("Abandoned {n}")}}))
                .send()
                .await
                .is_err()
        }));
    }
    let mut hung_up = 0;
    for request in abandoned {
        hung_up += usize::from(request.await.unwrap());
    }
    assert!(hung_up > 0, "no request was abandoned; the test proves nothing");
    for n in 0..20 {
        let id = host.add_deal(&format!("After {n}")).await;
        assert_eq!(host.deal(id).await["TITLE"], format!("After {n}"));
    }
}
