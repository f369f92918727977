//! "In-process sandbox versus Bitrix24's HTTP handler": the same one-robot stage run end to end
//! by a Wasm action and by a Bitrix24 app's robot, on SQLite, in alternating rounds.
//!
//! `cargo bench -p stagewright-tests --bench apps` prints, for each kind, the median and p99 time
//! from sending `crm.deal.add` to the robot's run succeeded, and the ratio of the medians:
//! - the Wasm action is `write-log`, run in the sandbox;
//! - the app robot's handler is a small local app (the same process, over loopback HTTP) that
//!   takes the run, answers 200, and then sends its result with `bizproc.event.send` through its
//!   webhook, as Bitrix24 apps do; the run waits for that answer.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use serde_json::json;
use stagewright_tests::TestHost;
use tokio::sync::oneshot;

/// Deals per kind per round.
const SAMPLES: usize = 100;
/// Rounds, each kind in turn.
const ROUNDS: usize = 3;

#[tokio::main]
async fn main() {
    let host = TestHost::start_with(|s| {
        s.http.allow_internal = vec!["127.0.0.0/8".parse().expect("network")];
        s.scheduler.poll = Duration::from_millis(500);
    })
    .await;
    let handler = start_app(host.server.webhook_url()).await;
    setup(&host, &handler).await;
    let watcher = stagewright_tests::succeeded_runs_watcher(host.database_url(), 1);
    let (mut wasm, mut app) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        wasm.extend(samples(&host, &watcher, "PREPARATION", round * 2 * SAMPLES).await);
        app.extend(samples(&host, &watcher, "EXECUTING", (round * 2 + 1) * SAMPLES).await);
    }
    let wasm_median = report("Wasm action (write-log)", &mut wasm);
    let app_median = report("app robot (HTTP handler + bizproc.event.send)", &mut app);
    println!("ratio app / Wasm, medians: {:.1}x", app_median / wasm_median);
}

/// The app: its handler answers 200 at once and sends the run's result a moment later.
async fn start_app(webhook: String) -> String {
    let client = reqwest::Client::new();
    let app = Router::new()
        .fallback(
            |State((client, webhook)): State<(reqwest::Client, String)>, body: Bytes| async move {
                let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
                let token = form
                    .into_iter()
                    .find(|(k, _)| k == "event_token")
                    .map(|(_, v)| v)
                    .expect("event_token");
                tokio::spawn(async move {
                    let sent = client
                        .post(format!("{webhook}bizproc.event.send"))
                        .form(&[("event_token", token.as_str()), ("return_values[done]", "Y")])
                        .send()
                        .await
                        .expect("bizproc.event.send");
                    assert!(sent.status().is_success(), "bizproc.event.send: {}", sent.status());
                });
                "ok"
            },
        )
        .with_state((client, webhook));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let handler = format!("http://{}/robot", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    handler
}

/// `write-log` on PREPARATION, the app robot on EXECUTING.
async fn setup(host: &TestHost, handler: &str) {
    host.ok(
        "bizproc.robot.add",
        json!({"CODE": "bench", "HANDLER": handler, "NAME": "Bench", "USE_SUBSCRIPTION": "Y",
               "RETURN_PROPERTIES": {"done": {"Name": "Done", "Type": "bool"}}}),
    )
    .await;
    host.add_robot("PREPARATION", "write-log", json!({"message": "deal {=Document:ID}"}))
        .await;
    host.add_robot("EXECUTING", "app:bench", json!({})).await;
}

/// `SAMPLES` deals added one at a time in `stage`, each timed until its robot's run succeeded.
async fn samples(
    host: &TestHost,
    watcher: &mpsc::Sender<(i64, oneshot::Sender<()>)>,
    stage: &str,
    first: usize,
) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(SAMPLES);
    for n in first..first + SAMPLES {
        let started = Instant::now();
        let deal = host
            .ok(
                "crm.deal.add",
                json!({"fields": {"TITLE": format!("Deal {n}"), "STAGE_ID": stage}}),
            )
            .await
            .as_i64()
            .expect("deal id");
        let (finished, done) = oneshot::channel();
        watcher.send((deal, finished)).expect("watcher runs");
        done.await.expect("run finished");
        samples.push(started.elapsed());
    }
    samples
}

/// Prints the median and p99; returns the median in milliseconds.
fn report(kind: &str, samples: &mut [Duration]) -> f64 {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    println!(
        "{kind}: median {:.2} ms, p99 {:.2} ms over {} deals",
        at(0.5),
        at(0.99),
        samples.len()
    );
    at(0.5)
}
