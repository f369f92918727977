//! A chain of five robots per deal, end to end on SQLite: get smart-process item information →
//! edit the deal → add a comment → notify the responsible → change the stage, each robot waiting
//! for the previous one, through the real scheduler and sandbox.
//!
//! `cargo bench -p stagewright-tests --bench chain` prints:
//! - latency: one deal at a time, from sending `crm.deal.add` to the chain's last run finished
//!   (median and p99 over the samples), the add's own answer time (it waits for the disk, the
//!   chain need not), and each plugin's sandboxed time per run;
//! - throughput: deals added as fast as the REST API takes them, by one client and by eight,
//!   chains finished per second;
//! - each for chain slices (the default: consecutive robots in one transaction) and for a commit
//!   per batch (`slice_runs = 0`), in alternation over two rounds, each on a fresh host, with the
//!   runs one commit ended on average.
//!
//! A bench binary: the figures are an end-to-end latency and a rate through the durable
//! scheduler, which criterion's one-closure model does not express.

use std::time::{Duration, Instant};

use serde_json::json;
use stagewright_tests::TestHost;
use tokio::sync::oneshot;

const SAMPLES: usize = 200;
const BATCH: usize = 500;
const ROBOTS: usize = 5;
/// One integration adding deals one after another, then several at once.
const THROUGHPUT_CLIENTS: [usize; 2] = [1, 8];

/// Each way of committing a chain, by name and whether it slices.
const MODES: [(&str, bool); 2] = [("chain slices", true), ("a commit per batch", false)];

#[tokio::main]
async fn main() {
    for round in 1..=2 {
        for (mode, sliced) in MODES {
            println!("round {round}, {mode}:");
            let host = TestHost::start_with(|s| {
                s.scheduler.poll = Duration::from_millis(500);
                if !sliced {
                    s.scheduler.slice_runs = 0;
                }
            })
            .await;
            setup(&host).await;
            latency(&host).await;
            for (n, clients) in THROUGHPUT_CLIENTS.into_iter().enumerate() {
                throughput(&host, clients, SAMPLES + n * BATCH).await;
            }
            let samples = host.metrics().await;
            let sample = |name: &str| samples.get(name).copied().unwrap_or_default();
            let deferred: f64 = samples
                .iter()
                .filter(|(name, _)| {
                    name.starts_with("stagewright_run_ends_total") && name.contains(r#"status="deferred""#)
                })
                .map(|(_, value)| value)
                .sum();
            println!(
                "  {:.2} runs ended per commit; {} runs put back for their plugin's share of the workers",
                sample("stagewright_scheduler_commit_runs_sum") / sample("stagewright_scheduler_commit_runs_count"),
                deferred as u64
            );
        }
    }
}

/// A smart process with one contract item, and the five robots on EXECUTING.
async fn setup(host: &TestHost) {
    let spa = host.ok("crm.type.add", json!({"fields": {"title": "Contracts"}})).await["type"].clone();
    let type_id = spa["entityTypeId"].as_i64().expect("entityTypeId");
    let contract = host
        .ok(
            "crm.item.add",
            json!({"entityTypeId": type_id, "fields": {"title": "Contract 1", "opportunity": 4200}}),
        )
        .await["item"]["id"]
        .as_i64()
        .expect("item id");
    let chained = json!({"after_previous": true});
    let get = host
        .add_robot(
            "EXECUTING",
            "get-spa-item",
            json!({"entity_type_id": type_id, "filter": {"ID": contract}, "select": ["OPPORTUNITY"]}),
        )
        .await;
    host.add_robot_with(
        "EXECUTING",
        "edit-item",
        json!({"fields": {"COMMENTS": format!("contract amount {{={get}:OPPORTUNITY}}")}}),
        chained.clone(),
    )
    .await;
    host.add_robot_with(
        "EXECUTING",
        "add-comment",
        json!({"text": "Invoice prepared"}),
        chained.clone(),
    )
    .await;
    host.add_robot_with(
        "EXECUTING",
        "notify",
        json!({"message": "{=Document:TITLE} is invoiced"}),
        chained.clone(),
    )
    .await;
    host.add_robot_with(
        "EXECUTING",
        "change-stage",
        json!({"stage_id": "FINAL_INVOICE"}),
        chained,
    )
    .await;
}

fn deal_fields(n: usize) -> serde_json::Value {
    json!({"fields": {"TITLE": format!("Deal {n}"), "STAGE_ID": "EXECUTING"}})
}

async fn add_deal(host: &TestHost, n: usize) -> i64 {
    host.ok("crm.deal.add", deal_fields(n)).await.as_i64().expect("deal id")
}

/// Runs of the chain that succeeded, over all deals, and their summed run durations (µs).
async fn chain_runs(host: &TestHost) -> (usize, i64) {
    let mut conn = host.database().await;
    let row: (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(CAST(SUM(duration_us) AS BIGINT), 0) FROM runs WHERE stage_id = 'EXECUTING' AND status = 'succeeded'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("count runs");
    (row.0 as usize, row.1)
}

/// Polls every 5 ms: the count reads every run of the chain so far, and polling more often would
/// take CPU from the host for an error already under 1 % of a throughput round.
async fn wait_for_runs(host: &TestHost, count: usize) {
    loop {
        if chain_runs(host).await.0 >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn latency(host: &TestHost) {
    let watcher = stagewright_tests::succeeded_runs_watcher(host.database_url(), ROBOTS as i64);
    let mut samples = Vec::with_capacity(SAMPLES);
    let mut answers = Vec::with_capacity(SAMPLES);
    for n in 0..SAMPLES {
        let started = Instant::now();
        let deal = add_deal(host, n).await;
        answers.push(started.elapsed());
        let (finished, done) = oneshot::channel();
        watcher.send((deal, finished)).expect("watcher runs");
        done.await.expect("chain finished");
        samples.push(started.elapsed());
    }
    let (runs, sandbox_us) = chain_runs(host).await;
    samples.sort();
    answers.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "chain of {ROBOTS} robots, one deal at a time: median {:.2} ms, p99 {:.2} ms (sandboxed run time {:.1} µs per robot; the add answered after a median {:.2} ms)",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        sandbox_us as f64 / runs as f64,
        answers[answers.len() / 2].as_secs_f64() * 1e3,
    );
    for (plugin, mean_us) in sandbox_time_by_plugin(host).await {
        println!("  {plugin}: {mean_us:.1} µs sandboxed per run");
    }
}

/// Each plugin's mean sandboxed time over the chain's successful runs, in chain order.
async fn sandbox_time_by_plugin(host: &TestHost) -> Vec<(String, f64)> {
    let mut conn = host.database().await;
    sqlx::query_as(
        "SELECT plugin_id, CAST(AVG(duration_us) AS DOUBLE PRECISION) FROM runs WHERE stage_id = 'EXECUTING' AND status = 'succeeded'
         GROUP BY plugin_id ORDER BY MIN(seq)",
    )
    .fetch_all(&mut conn)
    .await
    .expect("mean sandboxed time by plugin")
}

/// Adds `BATCH` deals through `clients` concurrent keep-alive clients, each sending its next add
/// when the last one answered, and waits for all their chains: the rate chains finish at when
/// integrations keep the host busy.
async fn throughput(host: &TestHost, clients: usize, first: usize) {
    let before = chain_runs(host).await.0;
    let url = format!(
        "{}/rest/1/{}/crm.deal.add",
        host.server.base_url(),
        host.server.webhook_token
    );
    let started = Instant::now();
    let senders: Vec<_> = (0..clients)
        .map(|client| {
            let url = url.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                for n in (client..BATCH).step_by(clients) {
                    let response = http
                        .post(&url)
                        .json(&deal_fields(first + n))
                        .send()
                        .await
                        .expect("send");
                    assert!(response.status().is_success(), "crm.deal.add: {}", response.status());
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.expect("client");
    }
    wait_for_runs(host, before + BATCH * ROBOTS).await;
    let elapsed = started.elapsed();
    println!(
        "chain of {ROBOTS} robots, {BATCH} deals added by {clients} client(s): {:.0} chains/s ({:.2} ms per chain)",
        BATCH as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e3 / BATCH as f64,
    );
}
