//! The admin API's OpenAPI document: served without a token, naming every operation, and
//! describing what the API really answers (real answers are validated against its schemas).

use reqwest::Method;
use serde_json::{Value, json};
use stagewright::json_schema::JsonSchema;
use stagewright_tests::TestHost;

/// Every admin operation, as method and path.
const OPERATIONS: &[(&str, &str)] = &[
    ("get", "/api/v1/plugins"),
    ("post", "/api/v1/plugins"),
    ("post", "/api/v1/plugins/inspect"),
    ("get", "/api/v1/robots"),
    ("post", "/api/v1/robots"),
    ("put", "/api/v1/robots/{id}"),
    ("delete", "/api/v1/robots/{id}"),
    ("post", "/api/v1/robots/reorder"),
    ("post", "/api/v1/simulate"),
    ("get", "/api/v1/triggers"),
    ("post", "/api/v1/triggers"),
    ("delete", "/api/v1/triggers/{id}"),
    ("get", "/api/v1/runs"),
    ("get", "/api/v1/runs/{id}"),
    ("put", "/api/v1/users/{id}/password"),
    ("get", "/api/v1/users/{id}/roles"),
    ("put", "/api/v1/users/{id}/roles"),
    ("get", "/api/v1/roles"),
    ("post", "/api/v1/roles"),
    ("put", "/api/v1/roles/{id}"),
    ("delete", "/api/v1/roles/{id}"),
    ("post", "/api/v1/runs/{id}/retry"),
    ("get", "/api/v1/timeline"),
    ("get", "/api/v1/outbox"),
    ("post", "/api/v1/webhooks"),
    ("get", "/api/v1/calendar"),
    ("put", "/api/v1/calendar"),
    ("get", "/api/v1/repeat-sales"),
    ("put", "/api/v1/repeat-sales"),
    ("get", "/api/v1/reports/pipeline"),
    ("get", "/api/v1/return-rules"),
    ("post", "/api/v1/return-rules"),
    ("put", "/api/v1/return-rules/{id}"),
    ("delete", "/api/v1/return-rules/{id}"),
    ("get", "/api/v1/returns"),
    ("get", "/api/v1/repeat-sales/segments"),
    ("post", "/api/v1/repeat-sales/segments"),
    ("put", "/api/v1/repeat-sales/segments/{id}"),
    ("delete", "/api/v1/repeat-sales/segments/{id}"),
    ("get", "/api/v1/repeat-sales/segment-runs"),
    ("post", "/api/v1/clock/advance"),
    ("get", "/api/v1/exceptions"),
    ("post", "/api/v1/exceptions"),
    ("delete", "/api/v1/exceptions/{id}"),
    ("get", "/api/v1/absences"),
    ("post", "/api/v1/absences"),
    ("delete", "/api/v1/absences/{id}"),
    ("get", "/api/v1/config"),
    ("post", "/api/v1/config/import"),
];

async fn document(host: &TestHost) -> Value {
    let url = format!("{}/api/v1/openapi.json", host.server.base_url());
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200, "served without a token");
    response.json().await.unwrap()
}

/// Checks `answer` against the schema the document gives for `method path`'s `status` answer.
fn assert_described(doc: &Value, method: &str, path: &str, status: &str, answer: &Value) {
    let schema = &doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{method} {path} documents no {status} body");
    let mut schema = schema.clone();
    schema["components"] = doc["components"].clone();
    let errors: Vec<String> = JsonSchema::compile(&schema)
        .expect("a valid schema")
        .violations(answer)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status} answer does not match: {errors:#?}\n{answer:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_names_every_operation_and_matches_real_answers() {
    let host = TestHost::start_with(|s| s.manual_clock = true).await;
    let doc = document(&host).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
    for (method, path) in OPERATIONS {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        assert_eq!(operation["security"], json!([{"admin_token": []}]), "{method} {path}");
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(documented, OPERATIONS.len(), "no undocumented extra operations");
    assert_eq!(doc["components"]["securitySchemes"]["admin_token"]["scheme"], "bearer");

    let robot = json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": "add-comment",
        "config": {"text": "Hello {=Document:TITLE}"}, "timing": {"kind": "delay", "value": 1, "unit": "hours"},
        "condition": {"logic": "or", "rules": [{"field": "OPPORTUNITY", "op": ">", "value": 100}, {"field": "TITLE", "op": "!empty"}]}});
    let (status, added) = host.admin(Method::POST, "/api/v1/robots", Some(robot)).await;
    assert_eq!(status, 201, "{added}");
    assert_described(&doc, "post", "/api/v1/robots", "201", &added);
    let trigger = json!({"entity_type": "deal", "stage_id": "WON", "trigger": {"kind": "field_changed", "field": "OPPORTUNITY", "value": 5}});
    let (status, added) = host.admin(Method::POST, "/api/v1/triggers", Some(trigger)).await;
    assert_eq!(status, 201, "{added}");
    assert_described(&doc, "post", "/api/v1/triggers", "201", &added);
    let deal = host.add_deal("Described").await;
    let (status, now) = host
        .admin(Method::POST, "/api/v1/clock/advance", Some(json!({"ms": 1000})))
        .await;
    assert_eq!(status, 200, "{now}");
    assert_described(&doc, "post", "/api/v1/clock/advance", "200", &now);
    let exception = json!({"kind": "email", "value": "Desk@Example.com", "comment": "front desk"});
    let (status, added) = host
        .admin(Method::POST, "/api/v1/exceptions", Some(exception.clone()))
        .await;
    assert_eq!(status, 201, "{added}");
    assert_described(&doc, "post", "/api/v1/exceptions", "201", &added);
    let (status, again) = host.admin(Method::POST, "/api/v1/exceptions", Some(exception)).await;
    assert_eq!(status, 200, "{again}");
    assert_described(&doc, "post", "/api/v1/exceptions", "200", &again);
    let (status, missing) = host.admin(Method::DELETE, "/api/v1/exceptions/999", None).await;
    assert_eq!(status, 404, "{missing}");
    assert_described(&doc, "delete", "/api/v1/exceptions/{id}", "404", &missing);
    let away = json!({"user_id": 1, "from": now["now_ms"], "to": now["now_ms"].as_i64().unwrap() + 1000, "kind": "sick_leave"});
    let (status, added) = host.admin(Method::POST, "/api/v1/absences", Some(away)).await;
    assert_eq!(status, 201, "{added}");
    assert_described(&doc, "post", "/api/v1/absences", "201", &added);
    let (status, mode) = host
        .admin(Method::PUT, "/api/v1/repeat-sales", Some(json!({"enabled": true})))
        .await;
    assert_eq!(status, 200, "{mode}");
    assert_described(&doc, "put", "/api/v1/repeat-sales", "200", &mode);
    let rule = json!({"kind": "reactivation", "entity_type": "deal", "stage_id": "LOSE", "after_days": 7,
        "responsible": {"kind": "distribution", "users": [1]}});
    let (status, added) = host.admin(Method::POST, "/api/v1/return-rules", Some(rule)).await;
    assert_eq!(status, 201, "{added}");
    assert_described(&doc, "post", "/api/v1/return-rules", "201", &added);
    let mut changed = added.clone();
    changed["after_days"] = json!(10);
    let path = format!("/api/v1/return-rules/{}", added["id"]);
    let (status, replaced) = host.admin(Method::PUT, &path, Some(changed)).await;
    assert_eq!((status, &replaced["after_days"]), (200, &json!(10)), "{replaced}");
    assert_described(&doc, "put", "/api/v1/return-rules/{id}", "200", &replaced);
    host.ok("crm.deal.add", json!({"fields": {"TITLE": "Lost", "STAGE_ID": "LOSE"}}))
        .await;
    let segment = json!({"name": "Bought a year ago", "kind": "won_ago", "days": 365, "window_days": 14,
        "responsible": {"kind": "user", "user_id": 1}});
    let (status, added) = host
        .admin(Method::POST, "/api/v1/repeat-sales/segments", Some(segment.clone()))
        .await;
    assert_eq!(status, 201, "{added}");
    assert_described(&doc, "post", "/api/v1/repeat-sales/segments", "201", &added);
    let path = format!("/api/v1/repeat-sales/segments/{}", added["id"]);
    let (status, replaced) = host.admin(Method::PUT, &path, Some(segment)).await;
    assert_eq!(status, 200, "{replaced}");
    assert_described(&doc, "put", "/api/v1/repeat-sales/segments/{id}", "200", &replaced);
    let (status, missing) = host.admin(Method::DELETE, "/api/v1/absences/999", None).await;
    assert_eq!(status, 404, "{missing}");
    assert_described(&doc, "delete", "/api/v1/absences/{id}", "404", &missing);

    for (path, query) in [
        ("/api/v1/plugins", String::new()),
        ("/api/v1/robots", String::new()),
        ("/api/v1/triggers", String::new()),
        ("/api/v1/runs", String::new()),
        ("/api/v1/timeline", format!("?entity_type=deal&item_id={deal}")),
        ("/api/v1/outbox", String::new()),
        ("/api/v1/calendar", String::new()),
        ("/api/v1/exceptions", String::new()),
        ("/api/v1/absences", format!("?at={}", now["now_ms"])),
        ("/api/v1/repeat-sales", String::new()),
        ("/api/v1/return-rules", String::new()),
        ("/api/v1/returns", String::new()),
        ("/api/v1/repeat-sales/segments", String::new()),
        ("/api/v1/repeat-sales/segment-runs", String::new()),
        ("/api/v1/config", String::new()),
        (
            "/api/v1/reports/pipeline",
            "?entity_type=deal&from=2026-01-01&to=2036-01-01".to_string(),
        ),
    ] {
        let (status, answer) = host.admin(Method::GET, &format!("{path}{query}"), None).await;
        assert_eq!(status, 200, "{path}: {answer}");
        assert_described(&doc, "get", path, "200", &answer);
    }
    let (_, file) = host.admin(Method::GET, "/api/v1/config", None).await;
    let (status, report) = host
        .admin(Method::POST, "/api/v1/config/import?dry_run=true", Some(file))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_described(&doc, "post", "/api/v1/config/import", "200", &report);
    let (_, runs) = host.admin(Method::GET, "/api/v1/runs", None).await;
    assert_eq!(
        runs["runs"].as_array().unwrap().len(),
        1,
        "the robot's pending run is listed"
    );

    let (status, refused) = host
        .admin(Method::POST, "/api/v1/robots", Some(json!({"entity_type": "deal"})))
        .await;
    assert_eq!(status, 400);
    assert_described(&doc, "post", "/api/v1/robots", "400", &refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_operation_refuses_a_caller_without_the_admin_token() {
    let host = TestHost::start().await;
    let client = reqwest::Client::new();
    let webhook_token = host
        .server
        .webhook_url()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    for (method, path) in OPERATIONS {
        let url = format!("{}{}", host.server.base_url(), path.replace("{id}", "x"));
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        for token in [None, Some("not-a-token"), Some(webhook_token.as_str())] {
            let mut request = client.request(method.clone(), &url).json(&json!({}));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{method} {path} with {token:?}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "INVALID_CREDENTIALS", "{method} {path}: {body}");
        }
    }
    let (status, _) = host.admin(Method::GET, "/api/v1/plugins", None).await;
    assert_eq!(status, 200, "the admin token still works");
}
