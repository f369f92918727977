//! The daily repeat-sales segment job over a large client base, on the manual clock, on a fresh
//! SQLite file (or PostgreSQL, when `STAGEWRIGHT_TEST_POSTGRES` names a server).
//!
//! `cargo bench -p stagewright-tests --bench segments` adds 100,000 contacts, each with a won
//! deal, then times whole daily runs from the clock's move to the run's end, as an admin sees
//! them in `/api/v1/repeat-sales/segment-runs`:
//! - a segment no client is in ("bought a month ago", a year after the wins): the scan alone,
//!   over every client and deal, five days in a row;
//! - a segment every client is in ("bought a year ago"): the scan and 100,000 new deals.
//!
//! A bench binary rather than criterion: each figure is one run over a table that takes minutes
//! to build.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use stagewright_tests::TestHost;

const CLIENTS: usize = 100_000;
const SEEDING_CLIENTS: usize = 16;
const DAY: i64 = 86_400_000;

#[tokio::main]
async fn main() {
    let host = TestHost::start_with(|s| s.manual_clock = true).await;
    let seeding = Instant::now();
    seed_won_clients(&host).await;
    println!(
        "seeded {CLIENTS} contacts with a won deal each in {:?}",
        seeding.elapsed()
    );
    add_segment(
        &host,
        json!({"name": "Bought a month ago", "kind": "won_ago", "days": 30}),
    )
    .await;
    day_run(&host, 340 * DAY).await;
    let mut scans: Vec<Duration> = Vec::new();
    for _ in 0..5 {
        let (took, made) = day_run(&host, DAY).await;
        assert_eq!(made, 0, "no client won a month ago");
        scans.push(took);
    }
    scans.sort();
    println!(
        "segment scan over {CLIENTS} clients, none in the segment: median {:?}, slowest {:?} (5 days)",
        scans[2], scans[4]
    );
    add_segment(
        &host,
        json!({"name": "Bought a year ago", "kind": "won_ago", "days": 365, "window_days": 14}),
    )
    .await;
    let (took, made) = day_run(&host, 20 * DAY).await;
    assert_eq!(made, CLIENTS as i64, "every client won a year ago");
    println!(
        "segment run making a deal for each of {CLIENTS} clients: {took:?} ({:.0} deals/s)",
        made as f64 / took.as_secs_f64()
    );
}

/// Adds the contacts and a won deal for each, `SEEDING_CLIENTS` at a time.
async fn seed_won_clients(host: &TestHost) {
    let url = host.server.webhook_url();
    let clients: Vec<_> = (0..SEEDING_CLIENTS)
        .map(|client| {
            let url = url.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                for n in (client..CLIENTS).step_by(SEEDING_CLIENTS) {
                    let contact = call(&http, &url, "crm.contact.add", json!({"NAME": format!("Client {n}")})).await;
                    let deal = json!({"TITLE": format!("Order {n}"), "CONTACT_ID": contact, "STAGE_ID": "WON"});
                    call(&http, &url, "crm.deal.add", deal).await;
                }
            })
        })
        .collect();
    for client in clients {
        client.await.expect("seeding client");
    }
}

async fn call(http: &reqwest::Client, url: &str, method: &str, fields: serde_json::Value) -> i64 {
    let answer: serde_json::Value = http
        .post(format!("{url}{method}"))
        .json(&json!({"fields": fields}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("a JSON answer");
    answer["result"]
        .as_i64()
        .unwrap_or_else(|| panic!("{method}: {answer}"))
}

async fn add_segment(host: &TestHost, segment: serde_json::Value) {
    let (status, added) = host
        .admin(Method::POST, "/api/v1/repeat-sales/segments", Some(segment))
        .await;
    assert_eq!(status, 201, "{added}");
}

/// Moves the clock by `ms` and waits for that day's run: how long it took, and the deals it made.
async fn day_run(host: &TestHost, ms: i64) -> (Duration, i64) {
    let started = Instant::now();
    let now = host.advance_clock(ms).await;
    loop {
        let (_, body) = host.admin(Method::GET, "/api/v1/repeat-sales/segment-runs", None).await;
        let newest = &body["runs"][0];
        if newest["day"] == json!(now.div_euclid(DAY)) && !newest["finished_at"].is_null() {
            return (started.elapsed(), newest["deals_created"].as_i64().unwrap());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
