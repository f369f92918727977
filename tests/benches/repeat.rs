//! Repeat-lead matching against a large client base: how long `crm.lead.add` takes when every
//! new lead's phone and email are looked up among the contacts, on a fresh SQLite file (or
//! PostgreSQL, when `STAGEWRIGHT_TEST_POSTGRES` names a server).
//!
//! `cargo bench -p stagewright-tests --bench repeat` adds 50,000 contacts, each with a phone and
//! an email, then prints the median and 99th percentile of one `crm.lead.add` at a time, half of
//! them repeat leads (a client's phone) and half new.
//!
//! A bench binary rather than criterion: the figure is an HTTP latency over a large table that
//! takes a minute to build, which criterion's one-closure model would rebuild or share badly.

use std::time::Instant;

use serde_json::{Value, json};
use stagewright_tests::TestHost;

const CONTACTS: usize = 50_000;
const SEEDING_CLIENTS: usize = 16;
const LEADS: usize = 400;

#[tokio::main]
async fn main() {
    let host = TestHost::start().await;
    seed_contacts(&host).await;
    lead_add_latency(&host).await;
}

/// A contact's phone: distinct for every `n`, written as people write them.
fn phone(n: usize) -> String {
    format!("+1 (555) {:03}-{:04}", n / 10_000, n % 10_000)
}

/// Adds the contacts, `SEEDING_CLIENTS` requests at a time.
async fn seed_contacts(host: &TestHost) {
    let url = format!("{}crm.contact.add", host.server.webhook_url());
    let clients: Vec<_> = (0..SEEDING_CLIENTS)
        .map(|client| {
            let url = url.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                for n in (client..CONTACTS).step_by(SEEDING_CLIENTS) {
                    let fields = json!({
                        "NAME": format!("Client {n}"),
                        "PHONE": [{"VALUE": phone(n), "VALUE_TYPE": "WORK"}],
                        "EMAIL": [{"VALUE": format!("client{n}@example.com"), "VALUE_TYPE": "WORK"}],
                    });
                    let response = http
                        .post(&url)
                        .json(&json!({"fields": fields}))
                        .send()
                        .await
                        .expect("send");
                    assert!(response.status().is_success(), "crm.contact.add: {}", response.status());
                }
            })
        })
        .collect();
    for client in clients {
        client.await.expect("seeding client");
    }
}

/// Times lead adds one after another; every other one has a client's phone.
async fn lead_add_latency(host: &TestHost) {
    let url = format!("{}crm.lead.add", host.server.webhook_url());
    let http = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(LEADS);
    let mut repeats = 0;
    for n in 0..LEADS {
        let repeat = n % 2 == 0;
        let number = if repeat { (n * 997) % CONTACTS } else { CONTACTS + n };
        let fields = json!({
            "TITLE": format!("Lead {n}"),
            "PHONE": [{"VALUE": phone(number).replace(['(', ')', '-'], "")}],
            "EMAIL": [{"VALUE": format!("lead{n}@example.org")}],
        });
        let started = Instant::now();
        let answer: Value = http
            .post(&url)
            .json(&json!({"fields": fields}))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("a JSON answer");
        latencies.push(started.elapsed());
        let id = answer["result"].as_i64().expect("lead id");
        let lead = host.ok("crm.lead.get", json!({"id": id})).await;
        if lead["IS_RETURN_CUSTOMER"] == "Y" {
            repeats += 1;
        }
    }
    assert_eq!(repeats, LEADS / 2, "every other lead has a client's phone");
    latencies.sort();
    println!(
        "crm.lead.add with a phone and an email, matched against {CONTACTS} contacts ({repeats} of {LEADS} repeat leads): median {:?}, p99 {:?}",
        latencies[LEADS / 2],
        latencies[LEADS * 99 / 100],
    );
}
