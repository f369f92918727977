//! The durable scheduler with a trivial plugin (the `noop` test plugin), on SQLite, or on
//! PostgreSQL when `STAGEWRIGHT_TEST_POSTGRES` names a server:
//! - drain: 100,000 robots due at once (the manual clock jumps past them), time until all ran,
//!   with one run per transaction and with the default claim batch;
//! - lateness: 4,000 robots due over 20 s of wall-clock time, p50/p99 of start minus due;
//! - pending: 1,000,000 delayed robots in the database, the host's start-up time and the
//!   process's resident memory after it;
//! - peer (PostgreSQL only, not run unless named): the batched drain and graphile-worker 0.17
//!   (npm, installed on first use) draining the same 100,000 trivial jobs on the same server with
//!   8 workers and batches of 128, in alternation, three rounds, with the ratio of each round.
//!
//! `cargo bench -p stagewright-tests --bench scheduler [-- drain-single|drain-batched|lateness|pending|peer]`
//!
//! Due runs are made by cloning one real run (and its deal) in SQL, so seeding a million takes
//! seconds instead of a million REST calls; everything after that is the real scheduler.

use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::{AnyConnection, Column, Row};
use stagewright::Settings;
use stagewright::scheduler::SchedulerSettings;
use stagewright_tests::{TestHost, test_plugin};

const DRAIN: i64 = 100_000;
const LATE: i64 = 4_000;
const LATE_SPREAD_MS: i64 = 20_000;
const PENDING: i64 = 1_000_000;

#[tokio::main]
async fn main() {
    // `cargo bench ... -- drain-batched` runs only the phases named (cargo adds flags such as `--bench`).
    let named: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wanted = |phase: &str| named.is_empty() || named.iter().any(|n| n == phase);
    if wanted("drain-single") {
        drain(1).await;
    }
    if wanted("drain-batched") {
        drain(SchedulerSettings::default().claim_batch).await;
    }
    if wanted("lateness") {
        lateness().await;
    }
    if wanted("pending") {
        pending().await;
    }
    if named.iter().any(|n| n == "peer") {
        peer().await;
    }
}

/// A host (its settings changed by `adjust`) with the noop plugin on NEW after `delay_seconds`,
/// and one deal whose run is pending.
async fn host_with_one_pending_run(adjust: impl FnOnce(&mut Settings), delay_seconds: i64) -> TestHost {
    let host = TestHost::start_with(adjust).await;
    assert_eq!(host.install(test_plugin("noop")).await.0, 201);
    host.add_robot_with(
        "NEW",
        "noop",
        json!({"text": "hi"}),
        json!({"timing": {"kind": "delay", "value": delay_seconds, "unit": "seconds"}}),
    )
    .await;
    host.add_deal("Template").await;
    host
}

/// The columns of `table`, read off its first row.
async fn columns(conn: &mut AnyConnection, table: &str) -> Vec<String> {
    sqlx::query(&format!("SELECT * FROM {table} LIMIT 1"))
        .fetch_one(&mut *conn)
        .await
        .expect("a row to read the columns of")
        .columns()
        .iter()
        .map(|column| column.name().to_string())
        .collect()
}

/// Copies deal 1 and its run to deals and runs 2..=count; `due_at` is an SQL expression of `n.i`.
async fn clone_runs(host: &TestHost, count: i64, due_at: &str) {
    let mut conn = host.database().await;
    // The database computes the amount column (`opportunity`) from the JSON.
    let item_columns: Vec<String> = columns(&mut conn, "items")
        .await
        .into_iter()
        .filter(|c| c != "opportunity")
        .collect();
    let run_columns = columns(&mut conn, "runs").await;
    let select = |cols: &[String], replace: &dyn Fn(&str) -> Option<String>| {
        cols.iter()
            .map(|c| replace(c).unwrap_or_else(|| c.clone()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let numbers = format!("WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < {count})");
    let items = format!(
        "{numbers} INSERT INTO items ({}) SELECT {} FROM items, n WHERE entity_type = 'deal' AND id = 1",
        item_columns.join(", "),
        select(&item_columns, &|c| (c == "id").then(|| "n.i".to_string())),
    );
    let runs = format!(
        "{numbers} INSERT INTO runs ({}) SELECT {} FROM runs, n WHERE item_id = 1",
        run_columns.join(", "),
        select(&run_columns, &|c| match c {
            "id" => Some("'run_bench_' || n.i".into()),
            "item_id" => Some("n.i".into()),
            "seq" => Some("seq + n.i".into()),
            // Each deal's stay in the stage is its own, as after real stage entries.
            "entry_id" => Some("entry_id + n.i".into()),
            "due_at" => Some(due_at.into()),
            _ => None,
        }),
    );
    for statement in [
        "BEGIN".to_string(),
        items,
        runs,
        match conn.backend_name() {
            // Deal ids come from a native sequence there (migration 0021).
            "PostgreSQL" => format!("SELECT setval('ids_deal', {count})"),
            _ => format!("UPDATE sequences SET next_id = {} WHERE name = 'deal'", count + 1),
        },
        format!(
            "UPDATE runs SET due_at = {} WHERE item_id = 1",
            due_at.replace("n.i", "1")
        ),
        "COMMIT".to_string(),
    ] {
        sqlx::query(&statement).execute(&mut conn).await.expect("seed runs");
    }
    if conn.backend_name() == "PostgreSQL" {
        // The statistics autovacuum would have gathered while the tables grew in real use; a
        // planner that still believes `runs` is empty walks all of it.
        sqlx::query("ANALYZE").execute(&mut conn).await.expect("analyze");
    }
}

async fn count(host: &TestHost, status: &str) -> i64 {
    let mut conn = host.database().await;
    sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE status = $1")
        .bind(status)
        .fetch_one(&mut conn)
        .await
        .expect("count runs")
}

/// Waits until no run is pending or running (asked cheaply: counting 100,000 rows every 50 ms
/// would take CPU from the scheduler being measured), then checks that all succeeded.
async fn wait_until_succeeded(host: &TestHost, total: i64) {
    let mut conn = host.database().await;
    for status in ["pending", "running"] {
        loop {
            // The status is spelled out: the index of a state's runs serves only that literal.
            let busy: Option<i64> =
                sqlx::query_scalar(&format!("SELECT 1 FROM runs WHERE status = '{status}' LIMIT 1"))
                    .fetch_optional(&mut conn)
                    .await
                    .expect("busy runs");
            if busy.is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(count(host, "succeeded").await, total);
}

/// Drains [`DRAIN`] due robots; answers runs per second.
async fn drain(claim_batch: usize) -> f64 {
    let host = host_with_one_pending_run(
        |s| {
            s.manual_clock = true;
            s.scheduler.claim_batch = claim_batch;
        },
        3600,
    )
    .await;
    clone_runs(&host, DRAIN, "due_at").await;
    let started = Instant::now();
    host.advance_clock(3_600_000).await;
    wait_until_succeeded(&host, DRAIN).await;
    let seconds = started.elapsed().as_secs_f64();
    let rate = DRAIN as f64 / seconds;
    println!("drain: {DRAIN} robots due at once ran in {seconds:.1} s ({rate:.0} runs/s, claim batch {claim_batch})");
    rate
}

/// The graphile-worker release the peer phase measures.
const PEER: &str = "graphile-worker@0.17.3";

/// The batched drain and graphile-worker on the same PostgreSQL server, in alternation.
async fn peer() {
    let server = std::env::var(stagewright_tests::POSTGRES_VARIABLE).unwrap_or_else(|_| {
        panic!(
            "the peer phase runs on PostgreSQL: set {}",
            stagewright_tests::POSTGRES_VARIABLE
        )
    });
    let modules = peer_modules();
    let batch = SchedulerSettings::default().claim_batch;
    let workers = SchedulerSettings::default().workers;
    for round in 1..=3 {
        let ours = drain(batch).await;
        let theirs = graphile_drain(&server, &modules, workers, batch).await;
        println!(
            "peer round {round}: Stagewright {ours:.0} runs/s, {PEER} {theirs:.0} jobs/s ({workers} workers, batches of {batch}): ratio {:.2}",
            ours / theirs
        );
    }
}

/// Where graphile-worker is installed, installing it with npm on first use.
fn peer_modules() -> std::path::PathBuf {
    let dir = std::env::temp_dir()
        .join("stagewright-peers")
        .join(PEER.replace('@', "-"));
    if !dir.join("node_modules/graphile-worker").is_dir() {
        stagewright_tests::run(
            std::path::Path::new("npm"),
            &[
                "install",
                "--prefix",
                dir.to_str().unwrap(),
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                PEER,
            ],
        );
    }
    dir
}

/// graphile-worker draining [`DRAIN`] trivial jobs in a database of its own; answers jobs per
/// second.
async fn graphile_drain(server: &str, modules: &std::path::Path, workers: usize, batch: usize) -> f64 {
    let name = format!("graphile_bench_{:08x}", rand::random::<u32>());
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(server).await.unwrap();
    sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let (base, _) = server.rsplit_once('/').expect("a database URL ends in /DBNAME");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/graphile-drain.mjs");
    let output = tokio::process::Command::new("node")
        .arg(script)
        .arg(modules)
        .arg(format!("{base}/{name}"))
        .args([DRAIN.to_string(), workers.to_string(), batch.to_string()])
        .output()
        .await
        .unwrap();
    sqlx::Executor::execute(&mut admin, format!("DROP DATABASE {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let line: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON line");
    assert_eq!(line["left"], 0, "every job completed: {line}");
    let seconds = line["seconds"].as_f64().unwrap();
    println!(
        "graphile-worker: {DRAIN} jobs ran in {seconds:.1} s ({:.0} jobs/s)",
        DRAIN as f64 / seconds
    );
    DRAIN as f64 / seconds
}

async fn lateness() {
    // The production pacing: an idle worker looks for due runs every 500 ms unless woken.
    let host = host_with_one_pending_run(|s| s.scheduler.poll = SchedulerSettings::default().poll, 3600).await;
    let start = chrono::Utc::now().timestamp_millis() + 2_000;
    clone_runs(&host, LATE, &format!("{start} + (n.i * {LATE_SPREAD_MS}) / {LATE}")).await;
    host.server.state.scheduler.wake();
    wait_until_succeeded(&host, LATE).await;
    let mut conn = host.database().await;
    let mut late: Vec<i64> = sqlx::query_scalar("SELECT started_at - due_at FROM runs WHERE status = 'succeeded'")
        .fetch_all(&mut conn)
        .await
        .expect("lateness");
    late.sort_unstable();
    let at = |q: f64| late[((late.len() - 1) as f64 * q) as usize];
    println!(
        "lateness: {LATE} robots due over {} s, start minus due p50 {} ms, p99 {} ms, max {} ms",
        LATE_SPREAD_MS / 1000,
        at(0.5),
        at(0.99),
        late[late.len() - 1]
    );
}

fn resident_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

async fn pending() {
    let host = host_with_one_pending_run(|_| {}, 30 * 86_400).await;
    clone_runs(&host, PENDING, "due_at").await;
    assert_eq!(count(&host, "pending").await, PENDING);
    let before = resident_mib();
    let started = Instant::now();
    let host = host.restart().await;
    let startup = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(host.add_deal("Still serving").await > PENDING);
    println!(
        "pending: {PENDING} delayed robots; host start-up {:.2} s; process RSS {:.0} MiB after (was {:.0} MiB before the restart)",
        startup.as_secs_f64(),
        resident_mib(),
        before
    );
}
