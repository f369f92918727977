//! The company directory over REST (`user.*`, `department.*`) and the webhooks that act as its
//! users: who may read it, who may change it, and bad input refused.

use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::TestHost;

/// Adds a user through REST and returns a webhook path acting as them.
async fn user_with_webhook(host: &TestHost, email: &str, departments: Value) -> (i64, String) {
    let id = host
        .ok(
            "user.add",
            json!({"EMAIL": email, "NAME": "Ann", "LAST_NAME": "Lee", "WORK_POSITION": "Sales", "UF_DEPARTMENT": departments}),
        )
        .await
        .as_i64()
        .expect("user.add answers the id");
    let (status, hook) = host
        .admin(Method::POST, "/api/v1/webhooks", Some(json!({"user_id": id})))
        .await;
    assert_eq!(status, 201, "{hook}");
    (id, hook["path"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_install_has_the_administrator_heading_the_company() {
    let host = TestHost::start().await;
    let me = host.ok("user.current", json!({})).await;
    assert_eq!(me["ID"], "1");
    assert_eq!(me["ACTIVE"], true);
    assert_eq!(me["UF_DEPARTMENT"], json!([1]));
    let departments = host.ok("department.get", json!({})).await;
    assert_eq!(
        departments,
        json!([{"ID": "1", "NAME": "Company", "SORT": 500, "UF_HEAD": "1"}])
    );
    let (_, users) = host.rest("user.get", json!({})).await;
    assert_eq!(users["total"], 1, "the automation user is not listed: {users}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn departments_and_users_are_added_found_and_changed() {
    let host = TestHost::start().await;
    let sales = host
        .ok("department.add", json!({"NAME": "Sales", "PARENT": 1, "SORT": 100}))
        .await
        .as_i64()
        .unwrap();
    let (ann, ann_hook) = user_with_webhook(&host, "ann@example.com", json!([sales])).await;
    assert_eq!(
        host.ok("department.update", json!({"ID": sales, "UF_HEAD": ann})).await,
        true
    );
    let found = host.ok("department.get", json!({"ID": sales})).await;
    assert_eq!(
        found,
        json!([{"ID": sales.to_string(), "NAME": "Sales", "SORT": 100, "PARENT": "1", "UF_HEAD": ann.to_string()}])
    );
    let children = host.ok("department.get", json!({"PARENT": 1})).await;
    assert_eq!(children.as_array().unwrap().len(), 1);

    let in_sales = host.ok("user.get", json!({"FILTER": {"UF_DEPARTMENT": sales}})).await;
    assert_eq!(in_sales.as_array().unwrap().len(), 1);
    assert_eq!(in_sales[0]["EMAIL"], "ann@example.com");
    assert_eq!(in_sales[0]["LAST_NAME"], "Lee");
    let by_email = host.ok("user.get", json!({"EMAIL": "ann@example.com"})).await;
    assert_eq!(by_email[0]["ID"], ann.to_string());

    let (status, me) = host.rest_via(&ann_hook, "user.current", json!({})).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["result"]["ID"], ann.to_string());
    let (_, deal) = host
        .rest_via(&ann_hook, "crm.deal.add", json!({"fields": {"TITLE": "Ann's"}}))
        .await;
    let deal = host.deal(deal["result"].as_i64().unwrap()).await;
    assert_eq!(deal["CREATED_BY_ID"], ann.to_string(), "a webhook acts as its user");

    host.ok(
        "user.update",
        json!({"ID": ann, "WORK_POSITION": "Head of sales", "UF_DEPARTMENT": [1, sales]}),
    )
    .await;
    let ann_now = host.ok("user.get", json!({"ID": ann})).await;
    assert_eq!(ann_now[0]["WORK_POSITION"], "Head of sales");
    assert_eq!(ann_now[0]["UF_DEPARTMENT"], json!([1, sales]));
    assert_eq!(ann_now[0]["NAME"], "Ann", "an update keeps what it does not name");

    host.ok("user.update", json!({"ID": ann, "ACTIVE": "N"})).await;
    let (status, body) = host.rest_via(&ann_hook, "user.current", json!({})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("INVALID_CREDENTIALS")),
        "a dismissed user's webhook stops working"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_administrators_change_the_directory() {
    let host = TestHost::start().await;
    let (_, hook) = user_with_webhook(&host, "bob@example.com", json!([1])).await;
    let before_users = host.ok("user.get", json!({})).await;
    let before_departments = host.ok("department.get", json!({})).await;
    for (method, params) in [
        ("user.add", json!({"EMAIL": "eve@example.com"})),
        ("user.update", json!({"ID": 1, "NAME": "Mallory"})),
        ("department.add", json!({"NAME": "Shadow", "PARENT": 1})),
        ("department.update", json!({"ID": 1, "NAME": "Mine"})),
    ] {
        let (status, body) = host.rest_via(&hook, method, params).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("ACCESS_DENIED")),
            "{method}: {body}"
        );
    }
    let (status, _) = host.rest_via(&hook, "user.get", json!({})).await;
    assert_eq!(status, 200, "anyone may read the directory");
    assert_eq!(host.ok("user.get", json!({})).await, before_users);
    assert_eq!(host.ok("department.get", json!({})).await, before_departments);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_directory_input_is_refused_and_changes_nothing() {
    let host = TestHost::start().await;
    let sales = host
        .ok("department.add", json!({"NAME": "Sales", "PARENT": 1}))
        .await
        .as_i64()
        .unwrap();
    let team = host
        .ok("department.add", json!({"NAME": "Team A", "PARENT": sales}))
        .await
        .as_i64()
        .unwrap();
    host.ok("user.add", json!({"EMAIL": "ann@example.com"})).await;
    let before_users = host.ok("user.get", json!({})).await;
    let before_departments = host.ok("department.get", json!({})).await;
    let bad = [
        ("user.add", json!({"NAME": "No mail"})),
        ("user.add", json!({"EMAIL": "not-an-address"})),
        ("user.add", json!({"EMAIL": "ann@example.com"})),
        ("user.add", json!({"EMAIL": "x@example.com", "UF_DEPARTMENT": [99]})),
        ("user.add", json!({"EMAIL": "y@example.com", "PASSWORD": "secret"})),
        ("user.update", json!({"ID": 999, "NAME": "Ghost"})),
        ("user.get", json!({"FILTER": {"SHOE_SIZE": 42}})),
        ("department.add", json!({"NAME": "Orphan"})),
        ("department.add", json!({"NAME": "", "PARENT": 1})),
        (
            "department.add",
            json!({"NAME": "Bad head", "PARENT": 1, "UF_HEAD": 999}),
        ),
        ("department.update", json!({"ID": sales, "PARENT": team})),
        ("department.update", json!({"ID": 1, "PARENT": sales})),
        ("department.delete", json!({"ID": sales})),
        ("department.delete", json!({"ID": 1})),
    ];
    for (method, params) in bad {
        let (status, body) = host.rest(method, params.clone()).await;
        assert_eq!(status, 400, "{method} {params}: {body}");
        assert!(body["error_description"].is_string(), "{body}");
    }
    assert_eq!(host.ok("user.get", json!({})).await, before_users);
    assert_eq!(host.ok("department.get", json!({})).await, before_departments);

    assert_eq!(host.ok("department.delete", json!({"ID": team})).await, true);
    let left: Vec<Value> = host.ok("department.get", json!({})).await.as_array().unwrap().clone();
    assert_eq!(left.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_calls_only_what_its_scopes_allow() {
    let host = TestHost::start().await;
    let (status, hook) = host
        .admin(
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({"user_id": 1, "scopes": ["crm"]})),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    assert_eq!(hook["scopes"], json!(["crm"]));
    let path = hook["path"].as_str().unwrap();

    let (status, added) = host
        .rest_via(path, "crm.deal.add", json!({"fields": {"TITLE": "In scope"}}))
        .await;
    assert_eq!(status, 200, "{added}");
    for method in ["user.current", "tasks.task.list", "department.get"] {
        let (status, body) = host.rest_via(path, method, json!({})).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("insufficient_scope")),
            "{method}: {body}"
        );
    }
    let (status, batch) = host
        .rest_via(
            path,
            "batch",
            json!({"cmd": {"deal": "crm.deal.get?id=1", "me": "user.current"}}),
        )
        .await;
    assert_eq!(status, 200, "{batch}");
    assert_eq!(batch["result"]["result"]["deal"]["TITLE"], "In scope");
    assert_eq!(batch["result"]["result_error"]["me"]["error"], "insufficient_scope");

    for bad in [
        json!({"user_id": 1, "scopes": ["crm", "telephony"]}),
        json!({"user_id": 1, "scopes": []}),
        json!({"user_id": 99}),
    ] {
        let (status, body) = host.admin(Method::POST, "/api/v1/webhooks", Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}
