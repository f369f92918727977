//! Text messages: the send-sms robot queues a message for the client or an employee, and the
//! host's outbox delivers it to the admin's HTTP gateway (a local one the test starts), keeping
//! its delivery status, retrying a busy gateway and giving up on one that refuses.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::TestHost;

/// What the gateway got: each request's headers and JSON body.
#[derive(Clone, Default)]
struct Gateway {
    received: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
}

impl Gateway {
    async fn start(&self) -> u16 {
        let app = Router::new().fallback(take).with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        port
    }

    fn received(&self) -> Vec<(HeaderMap, Value)> {
        self.received.lock().unwrap().clone()
    }
}

/// Takes every message, except that a text with "busy" is answered 503 the first time and one
/// with "reject" always 400.
async fn take(State(gateway): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let text = message["text"].as_str().unwrap_or_default().to_string();
    let earlier = {
        let mut received = gateway.received.lock().unwrap();
        let earlier = received.iter().filter(|(_, m)| m["text"] == text).count();
        received.push((headers, message));
        earlier
    };
    if text.contains("reject") {
        (StatusCode::BAD_REQUEST, "unknown number").into_response()
    } else if text.contains("busy") && earlier == 0 {
        (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response()
    } else {
        "queued".into_response()
    }
}

async fn host_with_gateway(gateway: &Gateway) -> TestHost {
    let port = gateway.start().await;
    TestHost::start_with(|s| {
        s.http.allow_internal = vec!["127.0.0.0/8".parse().unwrap()];
        s.manual_clock = true;
        s.sms.gateway_url = Some(format!("http://127.0.0.1:{port}/messages"));
        s.sms.header = Some("Authorization: Bearer gw-secret".into());
        s.sms.retries.retry_base = Duration::from_secs(30);
    })
    .await
}

/// Waits until the outbox holds a text message in `status` for the run; returns it.
async fn message_in(host: &TestHost, run_id: &str, status: &str) -> Value {
    message_where(host, run_id, |m| m["status"] == status).await
}

/// Waits until the outbox holds a text message of the run as `wanted` says; returns it.
async fn message_where(host: &TestHost, run_id: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let path = format!("/api/v1/outbox?channel=sms&run_id={run_id}");
        let (_, body) = host.admin(Method::GET, &path, None).await;
        let messages = body["messages"].as_array().unwrap().clone();
        if let Some(message) = messages.iter().find(|m| wanted(m)) {
            return message.clone();
        }
        assert!(Instant::now() < deadline, "no such message: {messages:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_and_the_responsible_get_a_text_through_the_gateway() {
    let gateway = Gateway::default();
    let host = host_with_gateway(&gateway).await;
    let ann = host
        .ok(
            "user.add",
            json!({"EMAIL": "ann@example.com", "NAME": "Ann", "PERSONAL_MOBILE": "+44 7700 900123", "UF_DEPARTMENT": [1]}),
        )
        .await
        .as_i64()
        .unwrap();
    let got = host.ok("user.get", json!({"ID": ann})).await;
    assert_eq!(got[0]["PERSONAL_MOBILE"], "+447700900123");
    let contact = host
        .ok(
            "crm.contact.add",
            json!({"fields": {"NAME": "Carl", "PHONE": [{"VALUE": "+1 (555) 010-2000", "VALUE_TYPE": "WORK"}]}}),
        )
        .await;
    let client = host
        .add_robot("NEW", "send-sms", json!({"text": "Your order {=Document:TITLE} is in"}))
        .await;
    let staff = host
        .add_robot(
            "NEW",
            "send-sms",
            json!({"to": "responsible", "text": "New deal: {=Document:TITLE}"}),
        )
        .await;
    let deal = host
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "Chairs", "CONTACT_ID": contact, "ASSIGNED_BY_ID": ann}}),
        )
        .await
        .as_i64()
        .unwrap();

    let client_run = host.finished_run(deal, &client).await;
    assert_eq!(client_run["status"], "succeeded", "{client_run:#}");
    let id = client_run["return_values"]["message_ids"][0]
        .as_str()
        .unwrap()
        .to_string();
    let sent = message_in(&host, client_run["id"].as_str().unwrap(), "sent").await;
    assert_eq!(
        (sent["id"].as_str(), &sent["to"]),
        (Some(id.as_str()), &json!(["+15550102000"]))
    );
    assert_eq!(sent["attempts"], 1);
    let staff_run = host.finished_run(deal, &staff).await;
    message_in(&host, staff_run["id"].as_str().unwrap(), "sent").await;

    let mut received = gateway.received();
    received.sort_by_key(|(_, m)| m["text"].as_str().unwrap().to_string());
    let bodies: Vec<&Value> = received.iter().map(|(_, m)| m).collect();
    let staff_id = staff_run["return_values"]["message_ids"][0].as_str().unwrap();
    assert_eq!(
        bodies,
        [
            &json!({"to": "+447700900123", "text": "New deal: Chairs", "id": staff_id}),
            &json!({"to": "+15550102000", "text": "Your order Chairs is in", "id": id}),
        ]
    );
    for (headers, message) in &received {
        assert_eq!(headers["authorization"], "Bearer gw-secret");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(
            headers["idempotency-key"].to_str().unwrap(),
            message["id"].as_str().unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_gateway_is_retried_a_refusing_one_fails_and_bad_robots_are_refused() {
    let gateway = Gateway::default();
    let host = host_with_gateway(&gateway).await;
    let busy = host
        .add_robot(
            "NEW",
            "send-sms",
            json!({"to": "numbers", "numbers": ["+1 555 0100"], "text": "busy line"}),
        )
        .await;
    let refused = host
        .add_robot(
            "NEW",
            "send-sms",
            json!({"to": "numbers", "numbers": ["+1 555 0199"], "text": "reject me"}),
        )
        .await;
    let nobody = host
        .add_robot("NEW", "send-sms", json!({"to": "users", "user_ids": [1], "text": "hi"}))
        .await;
    let deal = host.add_deal("Retries").await;

    let run = host.finished_run(deal, &busy).await;
    let run_id = run["id"].as_str().unwrap();
    let queued = message_where(&host, run_id, |m| m["status"] == "queued" && !m["last_error"].is_null()).await;
    let waiting = queued["last_error"].as_str().unwrap();
    assert_eq!(waiting, "the SMS gateway answered 503 Service Unavailable");
    host.advance_clock(31_000).await;
    let sent = message_in(&host, run_id, "sent").await;
    assert_eq!(sent["attempts"], 2);
    let tries: Vec<String> = gateway
        .received()
        .iter()
        .filter(|(_, m)| m["text"] == "busy line")
        .map(|(h, _)| h["idempotency-key"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(
        tries,
        [sent["id"].as_str().unwrap(); 2],
        "both tries carry the message id"
    );

    let run = host.finished_run(deal, &refused).await;
    let failed = message_in(&host, run["id"].as_str().unwrap(), "failed").await;
    assert_eq!(failed["last_error"], "the SMS gateway refused it: 400 Bad Request");
    assert_eq!(failed["attempts"], 1, "a refusal is not retried");

    let run = host.finished_run(deal, &nobody).await;
    assert_eq!(run["status"], "failed", "{run:#}");
    assert!(
        run["error"].as_str().unwrap().contains("has no mobile number"),
        "{run:#}"
    );

    for (config, why) in [
        (json!({"to": "users", "text": "x"}), "user_ids"),
        (json!({"to": "fax", "text": "x"}), "to"),
        (json!({"text": ""}), "text"),
    ] {
        let robot = json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": "send-sms", "config": config});
        let (status, body) = host.admin(Method::POST, "/api/v1/robots", Some(robot)).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["error_description"].as_str().unwrap().contains(why), "{body}");
    }
    let (status, body) = host
        .rest("user.update", json!({"ID": 1, "PERSONAL_MOBILE": "call me"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(host.ok("user.get", json!({"ID": 1})).await[0]["PERSONAL_MOBILE"], "");
}
