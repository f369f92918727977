//! REST throughput and list latency, measured through real HTTP on loopback against a host on a
//! fresh SQLite file (or PostgreSQL, when `STAGEWRIGHT_TEST_POSTGRES` names a server).
//!
//! `cargo bench -p stagewright-tests --bench rest` prints:
//! - `crm.deal.add` requests per second with 16 concurrent keep-alive clients, then the same for
//!   `crm.item.add` of a smart process (whose ids come from a counter of its own);
//! - the median and 99th percentile of one filtered, ordered `crm.deal.list` page over 100,000 deals;
//! - walking every deal of one stage (about 20,000) 50 at a time, as Bitrix24's SDKs fetch
//!   "everything": by `>ID` with `start=-1` (no count), then by `start` offsets (counted): the
//!   median page time of the first and the last ten pages of each walk, and the walk's total;
//! - the same for the board's first page of that pipeline (every column's first 50 cards, its
//!   count and amount), signed in, and for one card drag (the REST update the board sends);
//! - `crm.stagehistory.list` over the 100,000 deals' history: one deal's, and a counted page of
//!   one stage's entries since a moment; and the pipeline report over all of it.
//!
//! A bench binary rather than criterion: the figures are a rate under concurrency and a latency
//! distribution over a large table, which criterion's one-closure model does not express. The
//! clients run in this process and share the machine's cores with the host, so the rate is a
//! lower bound of what a separate client machine would see.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stagewright_tests::TestHost;

const CLIENTS: usize = 16;
const ADD_SECONDS: u64 = 10;
const DEALS: usize = 100_000;
const LIST_SAMPLES: usize = 300;
const BOARD_SAMPLES: usize = 100;
const STAGES: [&str; 5] = ["NEW", "PREPARATION", "PREPAYMENT_INVOICE", "EXECUTING", "FINAL_INVOICE"];

/// A deterministic spread of deal fields, so runs compare.
fn deal_fields(n: usize) -> Value {
    let mixed = (n as u64).wrapping_mul(6_364_136_223_846_793_005).rotate_left(29);
    json!({
        "TITLE": format!("Deal {n}"),
        "OPPORTUNITY": mixed % 10_000,
        "STAGE_ID": STAGES[(mixed >> 20) as usize % STAGES.len()],
        "ASSIGNED_BY_ID": 1 + (mixed >> 40) % 20,
    })
}

#[tokio::main]
async fn main() {
    let host = TestHost::start().await;
    let added = add_rate(&host, "crm.deal.add", |n| json!({"fields": deal_fields(n)})).await;
    let spa = host.ok("crm.type.add", json!({"fields": {"title": "Contracts"}})).await["type"]["entityTypeId"].clone();
    add_rate(
        &host,
        "crm.item.add",
        move |n| json!({"entityTypeId": spa, "fields": {"title": format!("Contract {n}"), "opportunity": n % 10_000}}),
    )
    .await;
    seed(&host, DEALS.saturating_sub(added)).await;
    list_latency(&host, "just seeded").await;
    if host.database_url().starts_with("postgres") {
        vacuum(&host).await;
        list_latency(&host, "after VACUUM").await;
    }
    walk_latency(&host).await;
    board_latency(&host).await;
    history_latency(&host).await;
}

fn method_url(host: &TestHost, method: &str) -> String {
    format!(
        "{}/rest/1/{}/{method}",
        host.server.base_url(),
        host.server.webhook_token
    )
}

async fn post_json(http: &reqwest::Client, url: &str, body: &Value) -> Value {
    let response = http.post(url).json(body).send().await.expect("send");
    response.json().await.expect("a JSON answer")
}

/// Runs 16 clients calling `method` with `body(n)` (n counting up across the clients) for a
/// fixed time; returns how many calls were made.
async fn add_rate(host: &TestHost, method: &str, body: impl Fn(usize) -> Value + Clone + Send + 'static) -> usize {
    let url = method_url(host, method);
    let deadline = Instant::now() + Duration::from_secs(ADD_SECONDS);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (url, body, method) = (url.clone(), body.clone(), method.to_string());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut latencies = Vec::new();
                let mut n = client;
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let response = http.post(&url).json(&body(n)).send().await.expect("send");
                    assert!(response.status().is_success(), "{method}: {}", response.status());
                    response.bytes().await.expect("answer");
                    latencies.push(started.elapsed());
                    n += CLIENTS;
                }
                latencies
            })
        })
        .collect();
    let started = Instant::now();
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await.expect("client"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    println!(
        "{method}, {CLIENTS} clients: {:.0} requests/s ({} in {elapsed:.1} s), latency median {:?}, p99 {:?}",
        latencies.len() as f64 / elapsed,
        latencies.len(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
    );
    latencies.len()
}

/// Adds `count` more deals through `batch`, 50 a call.
async fn seed(host: &TestHost, count: usize) {
    let url = method_url(host, "batch");
    let http = reqwest::Client::new();
    for first in (0..count).step_by(50) {
        let commands: serde_json::Map<String, Value> = (first..(first + 50).min(count))
            .map(|n| {
                let fields = deal_fields(1_000_000 + n);
                let query: String = fields
                    .as_object()
                    .expect("fields")
                    .iter()
                    .map(|(k, v)| {
                        let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                        format!("fields[{k}]={}", v.replace(' ', "%20"))
                    })
                    .collect::<Vec<_>>()
                    .join("&");
                (format!("d{n}"), Value::String(format!("crm.deal.add?{query}")))
            })
            .collect();
        let answer = post_json(&http, &url, &json!({"halt": 1, "cmd": commands})).await;
        assert_eq!(answer["result"]["result_error"], json!([]), "seeding failed: {answer}");
    }
}

/// Does at once what PostgreSQL's autovacuum does on its own after many inserts (and what the
/// list's count needs to be answered from an index alone): marks the table's pages all-visible.
async fn vacuum(host: &TestHost) {
    use sqlx::Executor;
    host.database()
        .await
        .execute("VACUUM (ANALYZE) items")
        .await
        .expect("vacuum the items");
}

/// Times one list page: deals of one stage above an amount, largest first; `when` says in what
/// state the table is.
async fn list_latency(host: &TestHost, when: &str) {
    let url = method_url(host, "crm.deal.list");
    let http = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(LIST_SAMPLES);
    let mut total = Value::Null;
    for sample in 0..LIST_SAMPLES {
        let query = json!({
            "filter": {"STAGE_ID": STAGES[sample % STAGES.len()], ">=OPPORTUNITY": 5000},
            "order": {"OPPORTUNITY": "DESC"},
            "select": ["ID", "TITLE", "OPPORTUNITY", "STAGE_ID"],
            "start": (sample % 4) * 50,
        });
        let started = Instant::now();
        let answer = post_json(&http, &url, &query).await;
        latencies.push(started.elapsed());
        assert_eq!(answer["result"].as_array().map(Vec::len), Some(50), "{answer}");
        total = answer["total"].clone();
    }
    latencies.sort();
    println!(
        "crm.deal.list over {DEALS} deals, {when} (one stage, OPPORTUNITY >= 5000, by OPPORTUNITY DESC, {total} match): median {:?}, p99 {:?}",
        latencies[LIST_SAMPLES / 2],
        latencies[LIST_SAMPLES * 99 / 100],
    );
}

/// One stage's deals walked to the end, by `>ID` with `start=-1` and by `start` offsets.
async fn walk_latency(host: &TestHost) {
    let url = method_url(host, "crm.deal.list");
    let http = reqwest::Client::new();
    for by_id in [true, false] {
        let (mut pages, mut seen, mut last_id) = (Vec::new(), 0, 0);
        let walk_started = Instant::now();
        loop {
            let query = if by_id {
                json!({"filter": {"STAGE_ID": "PREPARATION", ">ID": last_id}, "order": {"ID": "ASC"},
                       "select": ["ID", "TITLE"], "start": -1})
            } else {
                json!({"filter": {"STAGE_ID": "PREPARATION"}, "order": {"ID": "ASC"},
                       "select": ["ID", "TITLE"], "start": seen})
            };
            let started = Instant::now();
            let answer = post_json(&http, &url, &query).await;
            pages.push(started.elapsed());
            let rows = answer["result"].as_array().expect("a page").clone();
            seen += rows.len();
            match rows.last() {
                Some(row) if rows.len() == 50 => last_id = row["ID"].as_str().unwrap().parse().unwrap(),
                _ => break,
            }
        }
        let median = |slice: &[Duration]| {
            let mut sorted = slice.to_vec();
            sorted.sort();
            sorted[sorted.len() / 2]
        };
        let ends = 10.min(pages.len());
        println!(
            "walk of one stage's {seen} deals by {}: {} pages, median page {:?} over the first {ends}, {:?} over the last {ends}, {:?} in all",
            if by_id {
                ">ID with start=-1"
            } else {
                "start offsets (counted)"
            },
            pages.len(),
            median(&pages[..ends]),
            median(&pages[pages.len() - ends..]),
            walk_started.elapsed(),
        );
    }
}

/// The board's first page and a card drag, through a session signed in with the admin token.
async fn board_latency(host: &TestHost) {
    let base = host.server.base_url();
    let http = reqwest::Client::new();
    let session = host.board_session(&[("token", host.server.admin_token.as_str())]).await;
    let (cookie, csrf) = (session.cookie, session.csrf);
    let mut pages = Vec::with_capacity(BOARD_SAMPLES);
    let mut page = String::new();
    for _ in 0..BOARD_SAMPLES {
        let started = Instant::now();
        let answer = http
            .get(format!("{base}/board/deal/0"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("page");
        assert!(answer.status().is_success(), "{}", answer.status());
        page = answer.text().await.expect("page");
        pages.push(started.elapsed());
    }
    let cards = page.matches(r#"<article class="card""#).count();
    let mut drags = Vec::with_capacity(BOARD_SAMPLES);
    for sample in 0..BOARD_SAMPLES {
        let body = json!({"id": sample + 1, "fields": {"STAGE_ID": STAGES[sample % STAGES.len()]}});
        let started = Instant::now();
        let answer = http
            .post(format!("{base}/rest/crm.deal.update.json"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(&body)
            .send()
            .await
            .expect("drag");
        assert!(answer.status().is_success(), "{}", answer.status());
        answer.bytes().await.expect("answer");
        drags.push(started.elapsed());
    }
    pages.sort();
    drags.sort();
    println!(
        "board first page over {DEALS} deals ({cards} cards, {} bytes): median {:?}, p99 {:?}",
        page.len(),
        pages[BOARD_SAMPLES / 2],
        pages[BOARD_SAMPLES * 99 / 100],
    );
    println!(
        "card drag (one crm.deal.update request): median {:?}, p99 {:?}",
        drags[BOARD_SAMPLES / 2],
        drags[BOARD_SAMPLES * 99 / 100],
    );
}

/// Median and 99th percentile of `samples` timings of `call(sample)`.
async fn timed<F, Fut>(samples: usize, call: F) -> (Duration, Duration)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut latencies = Vec::with_capacity(samples);
    for sample in 0..samples {
        let started = Instant::now();
        call(sample).await;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    (latencies[samples / 2], latencies[samples * 99 / 100])
}

/// The stage history and the pipeline report over every deal's entries.
async fn history_latency(host: &TestHost) {
    let url = method_url(host, "crm.stagehistory.list");
    let http = reqwest::Client::new();
    let (median, p99) = timed(LIST_SAMPLES, |sample| {
        let (http, url) = (&http, &url);
        async move {
            let query = json!({"entityTypeId": 2, "filter": {"OWNER_ID": 1 + (sample * 331) % DEALS}});
            let answer = post_json(http, url, &query).await;
            assert!(
                answer["result"]["items"].as_array().is_some_and(|i| !i.is_empty()),
                "{answer}"
            );
        }
    })
    .await;
    println!("crm.stagehistory.list of one deal among {DEALS}: median {median:?}, p99 {p99:?}");
    let (median, p99) = timed(LIST_SAMPLES, |sample| {
        let (http, url) = (&http, &url);
        async move {
            let query = json!({
                "entityTypeId": 2,
                "filter": {"STAGE_ID": STAGES[sample % STAGES.len()], ">=CREATED_TIME": "2000-01-01T00:00:00Z"},
                "order": {"ID": "DESC"},
                "start": (sample % 4) * 50,
            });
            let answer = post_json(http, url, &query).await;
            assert_eq!(answer["result"]["items"].as_array().map(Vec::len), Some(50), "{answer}");
        }
    })
    .await;
    println!("crm.stagehistory.list, one stage's entries, newest first, counted: median {median:?}, p99 {p99:?}");
    let report = format!(
        "{}/api/v1/reports/pipeline?entity_type=deal&from=2000-01-01&to=2100-01-01",
        host.server.base_url()
    );
    let (median, p99) = timed(20, |_| {
        let (http, report) = (&http, &report);
        async move {
            let answer = http
                .get(report)
                .bearer_auth(&host.server.admin_token)
                .send()
                .await
                .expect("report");
            assert!(answer.status().is_success(), "{}", answer.status());
            answer.bytes().await.expect("report");
        }
    })
    .await;
    println!("pipeline report over every deal's stage history: median {median:?}, p99 {p99:?}");
}
