//! The floor under every write: one SQL statement's round trip through the store on SQLite.
//!
//! `cargo bench -p stagewright-tests --bench store` prints the mean time of a trivial statement
//! (`SELECT $1`) through the store on a read connection and inside a write transaction, and of
//! an empty write transaction (BEGIN IMMEDIATE + COMMIT). An item write is several statements
//! and a transaction, so these figures bound how many writes per second one SQLite file takes.

use std::time::Instant;

use stagewright::store::{self, Store};

const STATEMENTS: u32 = 20_000;

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_sqlite(dir.path()).await.expect("open store");

    let mut conn = store.pool().acquire().await.expect("connection");
    let started = Instant::now();
    for i in 0..STATEMENTS {
        store::query("SELECT $1")
            .bind(i64::from(i))
            .fetch_one(&mut conn)
            .await
            .expect("select");
    }
    report("statement on a read connection", started, STATEMENTS);

    let mut tx = store.write().await.expect("write transaction");
    let started = Instant::now();
    for i in 0..STATEMENTS {
        store::query("SELECT $1")
            .bind(i64::from(i))
            .fetch_one(&mut tx)
            .await
            .expect("select");
    }
    report("statement inside a write transaction", started, STATEMENTS);
    tx.commit().await.expect("commit");

    let transactions = STATEMENTS / 10;
    let started = Instant::now();
    for _ in 0..transactions {
        store.write().await.expect("begin").commit().await.expect("commit");
    }
    report(
        "empty write transaction (BEGIN IMMEDIATE, COMMIT)",
        started,
        transactions,
    );
}

fn report(what: &str, started: Instant, count: u32) {
    let micros = started.elapsed().as_secs_f64() * 1e6 / f64::from(count);
    println!("{what}: {micros:.1} µs");
}
