//! Bitrix24 apps' own robots: a small local "app" registers a robot over REST
//! (`bizproc.robot.add`), gets each run posted to its handler the way Bitrix24 posts it, and
//! answers with `bizproc.event.send`; the run waits for that answer, which later robots use.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use reqwest::Method;
use serde_json::{Value, json};
use stagewright_tests::TestHost;

/// One handler call the app got: its headers and its form fields.
#[derive(Debug, Clone)]
struct Call {
    path: String,
    headers: HeaderMap,
    form: BTreeMap<String, String>,
}

/// The app: serves its handler on 127.0.0.1 and calls the host back through its webhook.
/// `/robot` takes the run and answers later (the test sends the event); `/answering` sends the
/// event itself before its handler returns; `/flaky` fails with 503 once, then takes the run.
#[derive(Clone, Default)]
struct App {
    calls: Arc<Mutex<Vec<Call>>>,
    webhook: Arc<OnceLock<String>>,
    base: Arc<OnceLock<String>>,
}

impl App {
    async fn start(&self) {
        let app = Router::new().fallback(handle).with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        self.base.set(format!("http://127.0.0.1:{port}")).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    }

    /// `http://127.0.0.1:<port>`.
    fn base(&self) -> &str {
        self.base.get().unwrap()
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Waits until the handler got `count` calls.
    async fn called(&self, count: usize) -> Vec<Call> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let calls = self.calls();
            if calls.len() >= count {
                return calls;
            }
            assert!(
                Instant::now() < deadline,
                "the handler got {} calls, not {count}",
                calls.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Calls a REST method of the host the way an app does: a form post to its webhook.
async fn call_host(webhook: &str, method: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{webhook}{method}"))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn handle(State(app): State<App>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let earlier = {
        let mut calls = app.calls.lock().unwrap();
        calls.push(Call {
            path: uri.path().to_string(),
            headers,
            form: form.clone(),
        });
        calls.iter().filter(|c| c.path == uri.path()).count() - 1
    };
    match uri.path() {
        "/flaky" if earlier == 0 => (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response(),
        "/answering" => {
            let webhook = app.webhook.get().unwrap();
            let token = &form["event_token"];
            let (status, body) = call_host(
                webhook,
                "bizproc.event.send",
                &[("event_token", token), ("return_values[quote_id]", "Q-sync")],
            )
            .await;
            assert_eq!(status, 200, "{body}");
            "ok".into_response()
        }
        _ => "ok".into_response(),
    }
}

fn allow_loopback(settings: &mut stagewright::Settings) {
    settings.http.allow_internal = vec!["127.0.0.0/8".parse().unwrap()];
    settings.manual_clock = true;
}

/// Starts the app and a host it may reach, and registers robot `code` with its handler at
/// `path`, waiting for a quote id in return.
async fn app_and_host(code: &str, path: &str) -> (App, TestHost) {
    let app = App::default();
    app.start().await;
    let host = TestHost::start_with(allow_loopback).await;
    app.webhook.set(host.server.webhook_url()).unwrap();
    register(&host, &app, code, path).await;
    (app, host)
}

/// Registers robot `code` of the app with its handler at `path`.
async fn register(host: &TestHost, app: &App, code: &str, path: &str) {
    let registered = host
        .ok(
            "bizproc.robot.add",
            json!({
                "CODE": code,
                "HANDLER": format!("{}{path}", app.base()),
                "AUTH_USER_ID": 1,
                "USE_SUBSCRIPTION": "Y",
                "NAME": {"de": "Angebot erstellen", "en": "Prepare a quote"},
                "DESCRIPTION": "Prices the deal in the quoting app",
                "PROPERTIES": {
                    "amount": {"Name": "Amount", "Type": "double", "Required": "Y"},
                    "note": {"Name": "Note", "Type": "text", "Default": "as usual"},
                    "urgent": {"Name": "Urgent", "Type": "bool", "Default": "N"}
                },
                "RETURN_PROPERTIES": {"quote_id": {"Name": "Quote", "Type": "string"}}
            }),
        )
        .await;
    assert_eq!(registered, true);
}

/// Waits until the robot's run for the deal is in `status`; returns it.
async fn run_in(host: &TestHost, deal: i64, robot: &str, status: &str) -> Value {
    run_where(host, deal, robot, |run| run["status"] == status).await
}

/// Waits until the robot's run for the deal is as `wanted` says; returns it.
async fn run_where(host: &TestHost, deal: i64, robot: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let runs = host.runs(deal).await;
        if let Some(run) = runs.iter().find(|r| r["robot_id"] == robot && wanted(r)) {
            return run.clone();
        }
        assert!(Instant::now() < deadline, "no such run of {robot}: {runs:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn log_messages(run: &Value) -> Vec<String> {
    run["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_robot_waits_for_the_apps_answer_and_later_robots_use_it() {
    let (app, host) = app_and_host("prepare_quote", "/robot").await;
    let (status, plugins) = host.admin(Method::GET, "/api/v1/plugins", None).await;
    assert_eq!(status, 200);
    let entry = plugins["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["manifest"]["id"] == "app:prepare_quote")
        .expect("the app robot is in the catalogue")
        .clone();
    assert_eq!(entry["manifest"]["name"], "Prepare a quote");
    assert_eq!(entry["app_handler"], format!("{}/robot", app.base()));
    let schema = &entry["manifest"]["config_schema"];
    assert_eq!(schema["required"], json!(["amount"]));
    assert_eq!(schema["properties"]["amount"]["type"], "number");
    assert_eq!(entry["capabilities_in_words"], json!(["calls 127.0.0.1 over HTTP"]));
    assert_eq!(host.ok("bizproc.robot.list", json!({})).await, json!(["prepare_quote"]));

    let quote = host
        .add_robot(
            "NEW",
            "app:prepare_quote",
            json!({"amount": "{=Document:OPPORTUNITY}", "urgent": true}),
        )
        .await;
    host.add_robot_with(
        "NEW",
        "add-comment",
        json!({"text": format!("Quote {{={quote}:quote_id}} is ready")}),
        json!({"after_previous": true}),
    )
    .await;
    let deal = host
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "Big order", "OPPORTUNITY": 1500}}),
        )
        .await
        .as_i64()
        .unwrap();

    let call = app.called(1).await.remove(0);
    let parked = run_in(&host, deal, &quote, "parked").await;
    let form = &call.form;
    assert_eq!(form["code"], "prepare_quote");
    assert_eq!(form["workflow_id"], parked["id"].as_str().unwrap());
    assert_eq!(
        (
            form["document_id[0]"].as_str(),
            form["document_id[1]"].as_str(),
            form["document_id[2]"].as_str()
        ),
        ("crm", "CCrmDocumentDeal", format!("DEAL_{deal}").as_str())
    );
    assert_eq!(form["document_type[2]"], "DEAL");
    assert_eq!(form["properties[amount]"], "1500");
    assert_eq!(
        form["properties[note]"], "as usual",
        "a property left empty takes its default"
    );
    assert_eq!(form["properties[urgent]"], "Y");
    assert_eq!(form["use_subscription"], "Y");
    assert_eq!(form["timeout_duration"], "86400");
    assert_eq!(
        form["auth[client_endpoint]"],
        format!("{}/rest/", host.server.base_url())
    );
    assert_eq!(form["auth[user_id]"], "1");
    assert_eq!(call.headers["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(
        call.headers["idempotency-key"].to_str().unwrap(),
        parked["id"].as_str().unwrap()
    );
    assert!(host.comments(deal).await.is_empty(), "the chain waits for the app");

    let webhook = host.server.webhook_url();
    let token = form["event_token"].as_str();
    let (status, body) = call_host(
        &webhook,
        "bizproc.event.send",
        &[
            ("event_token", token),
            ("return_values[quote_id]", "Q-7"),
            ("return_values[not_declared]", "x"),
            ("log_message", "Quote Q-7 priced"),
        ],
    )
    .await;
    assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
    host.finished_runs(deal, 2).await;
    let run = run_in(&host, deal, &quote, "succeeded").await;
    assert_eq!(run["return_values"], json!({"quote_id": "Q-7", "woke_by": "app"}));
    let logs = log_messages(&run);
    assert!(
        logs[0].starts_with("HTTP POST http://127.0.0.1:") && logs[0].ends_with("200 OK"),
        "{logs:?}"
    );
    assert_eq!(logs.last().unwrap(), "Quote Q-7 priced");
    assert_eq!(host.comments(deal).await, ["Quote Q-7 is ready"]);

    let (status, again) = call_host(&webhook, "bizproc.event.send", &[("event_token", token)]).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (403, Some("ACCESS_DENIED")),
        "{again}"
    );
    let (status, forged) = call_host(&webhook, "bizproc.event.send", &[("event_token", "forged|0")]).await;
    assert_eq!(
        (status, forged["error"].as_str()),
        (403, Some("ACCESS_DENIED")),
        "{forged}"
    );
    assert_eq!(app.calls().len(), 1, "one run, one call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_answers_at_once_fails_once_or_never_answers() {
    let (app, host) = app_and_host("sync_quote", "/answering").await;
    register(&host, &app, "flaky_quote", "/flaky").await;
    register(&host, &app, "silent_quote", "/robot").await;

    let sync = host.add_robot("NEW", "app:sync_quote", json!({"amount": 10})).await;
    let first = host.add_deal("Answered at once").await;
    let run = run_in(&host, first, &sync, "succeeded").await;
    assert_eq!(run["return_values"], json!({"quote_id": "Q-sync", "woke_by": "app"}));
    host.admin(Method::DELETE, &format!("/api/v1/robots/{sync}"), None)
        .await;

    let flaky = host.add_robot("NEW", "app:flaky_quote", json!({"amount": 20})).await;
    let second = host.add_deal("Answered after a retry").await;
    let failed_once = run_where(&host, second, &flaky, |r| {
        r["status"] == "pending" && !r["error"].is_null()
    })
    .await;
    assert_eq!(
        failed_once["error"],
        "the app's handler answered 503 Service Unavailable"
    );
    host.advance_clock(15_000).await;
    let parked = run_in(&host, second, &flaky, "parked").await;
    let calls: Vec<Call> = app.calls().into_iter().filter(|c| c.path == "/flaky").collect();
    assert_eq!(calls.len(), 2, "the failed attempt and its retry");
    let run_id = parked["id"].as_str().unwrap();
    assert!(
        calls.iter().all(|c| c.headers["idempotency-key"] == run_id),
        "one idempotency key"
    );
    let (old_token, new_token) = (&calls[0].form["event_token"], &calls[1].form["event_token"]);
    assert_ne!(old_token, new_token, "each attempt has its own event token");
    let webhook = host.server.webhook_url();
    let (status, _) = call_host(&webhook, "bizproc.event.send", &[("event_token", old_token)]).await;
    assert_eq!(status, 403, "the failed attempt's token no longer counts");
    let (status, body) = call_host(
        &webhook,
        "bizproc.event.send",
        &[("event_token", new_token), ("return_values[quote_id]", "Q-2")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let run = run_in(&host, second, &flaky, "succeeded").await;
    assert_eq!(run["return_values"]["quote_id"], "Q-2");
    assert_eq!(run["attempt"], 2);
    host.admin(Method::DELETE, &format!("/api/v1/robots/{flaky}"), None)
        .await;

    let silent = host
        .add_robot("NEW", "app:silent_quote", json!({"amount": 30, "timeout_duration": 60}))
        .await;
    let after = host
        .add_robot_with(
            "NEW",
            "add-comment",
            json!({"text": "went on without the quote"}),
            json!({"after_previous": true}),
        )
        .await;
    let third = host.add_deal("Never answered").await;
    let parked = run_in(&host, third, &silent, "parked").await;
    let call = app.called(4).await.pop().unwrap();
    assert_eq!(call.form["timeout_duration"], "60");
    assert_eq!(parked["due_at"].as_i64().unwrap() - host.advance_clock(0).await, 60_000);
    host.advance_clock(61_000).await;
    let run = run_in(&host, third, &silent, "succeeded").await;
    assert_eq!(run["return_values"], json!({"woke_by": "timeout"}));
    run_in(&host, third, &after, "succeeded").await;
    assert_eq!(host.comments(third).await, ["went on without the quote"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_are_checked_changed_and_removed_as_bitrix24_does() {
    let (app, host) = app_and_host("quote", "/robot").await;
    let refused = [
        (
            json!({"HANDLER": "http://x.example/h", "NAME": "No code"}),
            "ERROR_ACTIVITY_VALIDATION_FAILURE",
            "Empty activity code!",
        ),
        (
            json!({"CODE": "quote", "HANDLER": "http://x.example/h", "NAME": "Again"}),
            "ERROR_ACTIVITY_ALREADY_INSTALLED",
            "Activity or Automation rule already installed!",
        ),
        (
            json!({"CODE": "ftp", "HANDLER": "ftp://x.example/h", "NAME": "FTP"}),
            "ERROR_UNSUPPORTED_PROTOCOL",
            "Unsupported handler protocol",
        ),
        (
            json!({"CODE": "bad", "HANDLER": "http://x.example/h", "NAME": "Bad", "PROPERTIES": {"x": {"Type": "string"}}}),
            "ERROR_ACTIVITY_VALIDATION_FAILURE",
            "Empty property NAME x!",
        ),
    ];
    for (params, code, description) in refused {
        let (status, body) = host.rest("bizproc.robot.add", params).await;
        assert_eq!(
            (status, body["error"].as_str(), body["error_description"].as_str()),
            (400, Some(code), Some(description)),
            "{body}"
        );
    }
    assert_eq!(
        host.ok("bizproc.robot.list", json!({})).await,
        json!(["quote"]),
        "nothing was added"
    );
    let (_, employee_webhook) = host.add_employee("sam", 1).await;
    let (status, body) = host
        .rest_via(
            &employee_webhook,
            "bizproc.robot.add",
            json!({"CODE": "mine", "HANDLER": "http://x.example/h", "NAME": "Mine"}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("ACCESS_DENIED")),
        "only administrators register robots: {body}"
    );

    let robot = host.add_robot("NEW", "app:quote", json!({"amount": 5})).await;
    let changed = host
        .ok(
            "bizproc.robot.update",
            json!({"CODE": "quote", "FIELDS": {"NAME": "Quote v2", "PROPERTIES": {"sum": {"Name": "Sum", "Type": "int"}}}}),
        )
        .await;
    assert_eq!(changed, true);
    let (_, plugins) = host.admin(Method::GET, "/api/v1/plugins", None).await;
    let entry = plugins["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["manifest"]["id"] == "app:quote")
        .unwrap()
        .clone();
    assert_eq!(entry["manifest"]["name"], "Quote v2");
    assert_eq!(
        entry["manifest"]["config_schema"]["properties"]["sum"]["type"],
        "integer"
    );
    assert!(entry["manifest"]["config_schema"]["properties"].get("amount").is_none());
    let (status, body) = host
        .rest("bizproc.robot.update", json!({"CODE": "nope", "FIELDS": {"NAME": "X"}}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("ERROR_ACTIVITY_NOT_FOUND")),
        "{body}"
    );

    assert_eq!(host.ok("bizproc.robot.delete", json!({"CODE": "quote"})).await, true);
    assert_eq!(host.ok("bizproc.robot.list", json!({})).await, json!([]));
    let (_, plugins) = host.admin(Method::GET, "/api/v1/plugins", None).await;
    assert!(
        plugins["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["manifest"]["id"] != "app:quote")
    );
    let deal = host.add_deal("After the app left").await;
    let run = run_in(&host, deal, &robot, "failed").await;
    assert!(run["error"].as_str().unwrap().contains("app:quote"), "{run:#}");
    assert!(app.calls().is_empty(), "a removed robot's handler is not called");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_handler_at_an_internal_address_is_refused_without_retrying() {
    let app = App::default();
    app.start().await;
    let host = TestHost::start().await;
    register(&host, &app, "intranet", "/robot").await;
    let robot = host.add_robot("NEW", "app:intranet", json!({"amount": 1})).await;
    let deal = host.add_deal("Not for the intranet").await;
    let run = run_in(&host, deal, &robot, "failed").await;
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("a loopback address") && error.contains("--allow-http-to"),
        "{error}"
    );
    assert_eq!(run["attempt"], 1, "a refused call is not retried");
    assert!(app.calls().is_empty(), "nothing reached the app");
}
