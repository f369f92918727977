//! The webhook action: a robot calls another system over HTTP (a local receiver the test starts),
//! and the host keeps plugins away from internal addresses unless an admin allowed them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method as HttpMethod, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::TestHost;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A local HTTP server standing in for another system.
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Serves on 127.0.0.1; returns its port.
    async fn start(&self) -> u16 {
        let app = Router::new().fallback(answer).with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        port
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// `/moved` redirects (307) to `/hook`, `/to-metadata` redirects to the cloud metadata address,
/// `/flaky` fails with 503 the first time, `/missing` is 404, and anything else answers with an
/// invoice as JSON.
async fn answer(
    State(receiver): State<Receiver>,
    method: HttpMethod,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let earlier = {
        let mut received = receiver.received.lock().unwrap();
        received.push(Received {
            method: method.to_string(),
            path: path.clone(),
            headers,
            body: body.to_vec(),
        });
        received.len() - 1
    };
    match uri.path() {
        "/moved" => (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, "/hook")]).into_response(),
        "/to-metadata" => (
            StatusCode::FOUND,
            [(header::LOCATION, "http://169.254.169.254/latest/meta-data")],
        )
            .into_response(),
        "/flaky" if earlier == 0 => (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response(),
        "/missing" => (StatusCode::NOT_FOUND, "no such hook").into_response(),
        _ => axum::Json(json!({"invoice": "INV-7", "ok": true})).into_response(),
    }
}

fn allow_loopback(settings: &mut stagewright::Settings) {
    settings.http.allow_internal = vec!["127.0.0.0/8".parse().unwrap()];
}

async fn webhook_robot(host: &TestHost, config: Value) -> String {
    host.add_robot("NEW", "webhook", config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_sends_the_deal_and_later_robots_use_the_answer() {
    let receiver = Receiver::default();
    let port = receiver.start().await;
    let host = TestHost::start_with(allow_loopback).await;
    let hook = webhook_robot(
        &host,
        json!({
            "url": format!("http://127.0.0.1:{port}/moved?deal={{=Document:ID}}"),
            "fields": ["TITLE", "COMMENTS"],
            "headers": {"X-Token": "secret"}
        }),
    )
    .await;
    host.add_robot_with(
        "NEW",
        "add-comment",
        json!({"text": format!("Invoice {{={hook}:json.invoice}}, status {{={hook}:status}}")}),
        json!({"after_previous": true}),
    )
    .await;

    let deal = host
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "Webhook deal", "COMMENTS": "call me"}}),
        )
        .await
        .as_i64()
        .unwrap();
    let run = host.finished_run(deal, &hook).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    assert_eq!(run["return_values"]["status"], 200);
    assert_eq!(run["return_values"]["json.ok"], true);

    let received = receiver.received();
    assert_eq!(received.len(), 2, "the call and its redirect: {received:#?}");
    assert_eq!(received[0].path, format!("/moved?deal={deal}"));
    let hop = &received[1];
    assert_eq!((hop.method.as_str(), hop.path.as_str()), ("POST", "/hook"));
    assert_eq!(hop.headers["x-token"], "secret");
    assert_eq!(hop.headers["content-type"], "application/json");
    assert_eq!(
        hop.headers["idempotency-key"].to_str().unwrap(),
        run["id"].as_str().unwrap(),
        "the run id is the idempotency key"
    );
    let body: Value = serde_json::from_slice(&hop.body).unwrap();
    assert_eq!(
        body,
        json!({"entity_type": "deal", "id": deal, "fields": {"TITLE": "Webhook deal", "COMMENTS": "call me"}})
    );

    host.finished_runs(deal, 2).await;
    assert_eq!(host.comments(deal).await, ["Invoice INV-7, status 200"]);
    let logs: Vec<&str> = run["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert!(
        logs[0].contains("/moved") && logs[0].ends_with("307 Temporary Redirect"),
        "{logs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_addresses_are_refused_unless_an_admin_allowed_them() {
    let receiver = Receiver::default();
    let port = receiver.start().await;
    let host = TestHost::start().await;
    let by_address = webhook_robot(&host, json!({"url": format!("http://127.0.0.1:{port}/hook")})).await;
    let by_name = webhook_robot(&host, json!({"url": format!("http://localhost:{port}/hook")})).await;

    let deal = host.add_deal("Not for the intranet").await;
    for robot in [&by_address, &by_name] {
        let run = host.finished_run(deal, robot).await;
        assert_eq!(run["status"], "failed", "{run:#}");
        assert!(
            run["error"].as_str().unwrap().contains("refused by the host"),
            "{run:#}"
        );
        let log = run["logs"][0]["message"].as_str().unwrap();
        assert!(
            log.contains("a loopback address") && log.contains("--allow-http-to"),
            "{log}"
        );
    }
    assert!(receiver.received().is_empty(), "nothing reached the receiver");
    assert_eq!(host.deal(deal).await["TITLE"], "Not for the intranet");
    let (status, _) = host.admin(Method::GET, "/api/v1/plugins", None).await;
    assert_eq!(status, 200, "the host keeps serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_an_internal_address_is_refused_as_well() {
    let receiver = Receiver::default();
    let port = receiver.start().await;
    let host = TestHost::start_with(allow_loopback).await;
    let hook = webhook_robot(&host, json!({"url": format!("http://127.0.0.1:{port}/to-metadata")})).await;
    let missing = webhook_robot(&host, json!({"url": format!("http://127.0.0.1:{port}/missing")})).await;

    let deal = host.add_deal("Metadata").await;
    let run = host.finished_run(deal, &hook).await;
    assert_eq!(run["status"], "failed", "{run:#}");
    let logs = run["logs"].to_string();
    assert!(
        logs.contains("169.254.169.254") && logs.contains("link-local"),
        "{logs}"
    );

    let run = host.finished_run(deal, &missing).await;
    assert_eq!(run["status"], "failed", "{run:#}");
    assert!(
        run["error"].as_str().unwrap().contains("answered 404: no such hook"),
        "{run:#}"
    );
    assert_eq!(receiver.received().len(), 2, "the redirect and the 404, nothing else");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_is_retried_with_the_same_idempotency_key() {
    let receiver = Receiver::default();
    let port = receiver.start().await;
    let host = TestHost::start_with(|s| {
        allow_loopback(s);
        s.scheduler.retry_base = Duration::from_millis(100);
    })
    .await;
    let hook = webhook_robot(&host, json!({"url": format!("http://127.0.0.1:{port}/flaky")})).await;

    let deal = host.add_deal("Retry me").await;
    let run = host.finished_run(deal, &hook).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    assert_eq!(run["attempt"], 2, "{run:#}");
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[0].headers["idempotency-key"],
        received[1].headers["idempotency-key"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_webhook_configs_are_refused_when_saved() {
    let host = TestHost::start().await;
    for (config, expected) in [
        (json!({"url": "ftp://example.com/x"}), "does not match"),
        (json!({"url": "https://example.com", "method": "TRACE"}), "method"),
        (
            json!({"url": "https://example.com", "timeout_seconds": 300}),
            "timeout_seconds",
        ),
        (json!({"url": "https://example.com", "retries": 3}), "retries"),
        (json!({"method": "GET"}), "url"),
    ] {
        let body = json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": "webhook", "config": config});
        let (status, error) = host.admin(Method::POST, "/api/v1/robots", Some(body)).await;
        assert_eq!(status, 400, "{config} {error}");
        assert!(error.to_string().contains(expected), "{config}: {error}");
    }
    let (_, robots) = host.admin(Method::GET, "/api/v1/robots", None).await;
    assert_eq!(robots["robots"].as_array().map(Vec::len), Some(0), "{robots}");
}
