//! Crash soak: real `stagewright serve` processes share one database while thousands of robot
//! runs come due, and are killed with SIGKILL at random moments and restarted. Afterwards every
//! robot must have run exactly once per deal, its effect (a timeline comment) committed exactly
//! once, and no run may be left behind, however the kills fell.
//!
//! Without `STAGEWRIGHT_TEST_POSTGRES` one host runs on a SQLite file; with it, three hosts share
//! a fresh PostgreSQL database. About a minute either way, bounded to a few.
//!
//! The second test stops a host the polite way, with SIGTERM, and checks the same. The third
//! kills a host while it commits chain slices (several robots' ends in one transaction) and
//! checks that each slice counted whole or not at all.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};
use sqlx::{AnyConnection, Connection, Executor, Row};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// Deals created; each gets three robot runs.
const DEALS: usize = 900;
/// How long hosts are killed and restarted.
const CHAOS: Duration = Duration::from_secs(20);
/// How long the survivors get to finish everything afterwards: a bound, not a pause, generous
/// enough for a slow shared CI machine (runs a kill left behind wait out their lease first).
const DRAIN: Duration = Duration::from_secs(180);

/// Where one host process keeps its data directory (its compile cache, and on SQLite the
/// database), across restarts.
struct Slot {
    data_dir: PathBuf,
    database_url: Option<String>,
    /// More `serve` options.
    args: Vec<&'static str>,
}

/// A running host process.
struct Host {
    child: Child,
    /// Kept open so the host's startup lines never hit a closed pipe.
    _stdout: BufReader<ChildStdout>,
    base_url: String,
    admin_token: String,
    webhook_url: String,
}

impl Slot {
    async fn start(&self) -> Host {
        let mut command = Command::new(env!("CARGO_BIN_EXE_stagewright"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--lease-seconds", "3", "--data-dir"])
            .arg(&self.data_dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.data_dir.join("host.log"))
                    .expect("host log"),
            ))
            .kill_on_drop(true);
        if let Some(url) = &self.database_url {
            command.args(["--database-url", url]);
        }
        command.args(&self.args);
        let mut child = command.spawn().expect("start stagewright serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (mut base_url, mut admin_token, mut webhook_url) = (String::new(), String::new(), String::new());
        let started = tokio::time::timeout(Duration::from_secs(180), async {
            let mut line = String::new();
            while webhook_url.is_empty() {
                line.clear();
                assert!(
                    stdout.read_line(&mut line).await.expect("read stdout") > 0,
                    "host exited while starting: see {}",
                    self.data_dir.join("host.log").display()
                );
                let words: Vec<&str> = line.split_whitespace().collect();
                match words.as_slice() {
                    ["Stagewright", "is", "listening", "on", url] => base_url = url.to_string(),
                    ["Admin", "token:", token, ..] => admin_token = token.to_string(),
                    ["Webhook", "URL:", url] => webhook_url = url.to_string(),
                    _ => {}
                }
            }
        })
        .await;
        assert!(started.is_ok(), "host did not start in time");
        Host {
            child,
            _stdout: stdout,
            base_url,
            admin_token,
            webhook_url,
        }
    }
}

/// Calls a REST method on any live host, trying the next when one is down (it may have just
/// been killed).
async fn rest(http: &reqwest::Client, hosts: &[Host], method: &str, params: &Value) -> Value {
    for attempt in 0..200 {
        let host = &hosts[attempt % hosts.len()];
        if let Ok(response) = http
            .post(format!("{}{method}", host.webhook_url))
            .json(params)
            .send()
            .await
            && let Ok(body) = response.json::<Value>().await
        {
            assert!(body.get("error").is_none(), "{method}: {body}");
            return body["result"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no host answered {method}");
}

async fn add_robot(http: &reqwest::Client, host: &Host, robot: Value) {
    let response = http
        .post(format!("{}/api/v1/robots", host.base_url))
        .bearer_auth(&host.admin_token)
        .json(&robot)
        .send()
        .await
        .expect("add robot");
    assert_eq!(
        response.status().as_u16(),
        201,
        "{}",
        response.text().await.unwrap_or_default()
    );
}

/// Moves a host's manual clock forward.
async fn advance_clock(http: &reqwest::Client, host: &Host, ms: i64) {
    let response = http
        .post(format!("{}/api/v1/clock/advance", host.base_url))
        .bearer_auth(&host.admin_token)
        .json(&json!({"ms": ms}))
        .send()
        .await
        .expect("advance the clock");
    assert!(response.status().is_success(), "{}", response.status());
}

/// Commits of a host's workers that ended more runs than one claimed batch of `batch` holds:
/// chain slices, read from its `/metrics`.
async fn slice_commits(http: &reqwest::Client, host: &Host, batch: usize) -> f64 {
    let text = http
        .get(format!("{}/metrics", host.base_url))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("metrics text");
    let sample = |name: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    sample("stagewright_scheduler_commit_runs_count")
        - sample(&format!("stagewright_scheduler_commit_runs_bucket{{le=\"{batch}\"}}"))
}

/// A fresh PostgreSQL database on the server `STAGEWRIGHT_TEST_POSTGRES` names, if it is set.
async fn postgres_database() -> Option<(String, String)> {
    let server = std::env::var("STAGEWRIGHT_TEST_POSTGRES").ok()?;
    let name = format!("stagewright_soak_{:08x}", rand::random::<u32>());
    let mut admin = AnyConnection::connect(&server).await.expect("connect to PostgreSQL");
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create soak database");
    let (base, _) = server.rsplit_once('/').expect("a database URL ends in /DBNAME");
    Some((server.clone(), format!("{base}/{name}")))
}

/// Drops the database [`postgres_database`] made, if it made one.
async fn drop_postgres_database(postgres: Option<(String, String)>) {
    if let Some((server, url)) = postgres {
        let name = url.rsplit('/').next().unwrap_or_default().to_string();
        let mut admin = AnyConnection::connect(&server).await.expect("connect to PostgreSQL");
        admin
            .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
            .await
            .ok();
    }
}

/// Runs not over yet.
async fn open_runs(db: &mut AnyConnection) -> i64 {
    count(
        db,
        "SELECT COUNT(*) FROM runs WHERE status IN ('waiting', 'pending', 'running')",
    )
    .await
}

async fn count(db: &mut AnyConnection, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(&mut *db)
        .await
        .expect(sql)
        .try_get::<i64, _>(0)
        .expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_hosts_lose_and_double_no_robot_run() {
    sqlx::any::install_default_drivers();
    let root = tempfile::tempdir().expect("temp dir");
    let postgres = postgres_database().await;
    let slots: Vec<Slot> = (0..if postgres.is_some() { 3 } else { 1 })
        .map(|i| {
            let data_dir = root.path().join(format!("host{i}"));
            std::fs::create_dir_all(&data_dir).expect("data dir");
            Slot {
                data_dir,
                database_url: postgres.as_ref().map(|(_, url)| url.clone()),
                args: Vec::new(),
            }
        })
        .collect();
    let http = reqwest::Client::new();

    // Hosts start one after another: the first migrates and installs the built-in plugins.
    let mut hosts = Vec::new();
    for slot in &slots {
        hosts.push(slot.start().await);
    }
    for (text, extra) in [
        ("r1", json!({})),
        (
            "r2",
            json!({"timing": {"kind": "delay", "value": 3, "unit": "seconds"}}),
        ),
        ("r3", json!({"after_previous": true})),
    ] {
        let mut robot =
            json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": "add-comment", "config": {"text": text}});
        for (key, value) in extra.as_object().unwrap() {
            robot[key] = value.clone();
        }
        add_robot(&http, &hosts[0], robot).await;
    }
    for chunk in (0..DEALS).collect::<Vec<_>>().chunks(50) {
        let commands: serde_json::Map<String, Value> = chunk
            .iter()
            .map(|n| (format!("d{n}"), json!(format!("crm.deal.add?fields[TITLE]=soak%20{n}"))))
            .collect();
        rest(&http, &hosts, "batch", &json!({"halt": 0, "cmd": commands})).await;
    }

    let chaos_ends = Instant::now() + CHAOS;
    let mut kills = 0;
    while Instant::now() < chaos_ends {
        let pause = rand::rng().random_range(200..1500);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let victim = rand::rng().random_range(0..hosts.len());
        hosts[victim].child.start_kill().expect("SIGKILL");
        hosts[victim].child.wait().await.expect("reap");
        kills += 1;
        hosts[victim] = slots[victim].start().await;
    }

    let database_url = postgres.as_ref().map(|(_, url)| url.clone()).unwrap_or_else(|| {
        format!(
            "sqlite://{}",
            Path::new(&slots[0].data_dir).join("stagewright.db").display()
        )
    });
    let mut db = AnyConnection::connect(&database_url)
        .await
        .expect("open the soak database");
    let drained_by = Instant::now() + DRAIN;
    loop {
        let open = open_runs(&mut db).await;
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < drained_by,
            "{open} runs still open {DRAIN:?} after the last kill"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let deals = count(&mut db, "SELECT COUNT(*) FROM items WHERE entity_type = 'deal'").await;
    assert!(deals >= DEALS as i64, "{deals} deals");
    let runs = count(&mut db, "SELECT COUNT(*) FROM runs").await;
    assert_eq!(runs, 3 * deals, "one run per robot and deal");
    let unsuccessful = count(&mut db, "SELECT COUNT(*) FROM runs WHERE status <> 'succeeded'").await;
    assert_eq!(unsuccessful, 0, "every run succeeded in the end");
    let comments = count(&mut db, "SELECT COUNT(*) FROM timeline_comments").await;
    assert_eq!(
        comments,
        3 * deals,
        "each robot's comment committed exactly once ({kills} kills)"
    );
    let doubled = count(
        &mut db,
        "SELECT COUNT(*) FROM (SELECT item_id, text FROM timeline_comments GROUP BY item_id, text HAVING COUNT(*) <> 1) d",
    )
    .await;
    assert_eq!(doubled, 0, "no deal has a robot's comment twice");
    assert!(kills >= 5, "the soak killed hosts {kills} times");
    let taken_over = count(&mut db, "SELECT COUNT(*) FROM runs WHERE attempt > 1").await;
    eprintln!(
        "soak: {} hosts, {deals} deals, {runs} runs, {kills} kills, {taken_over} runs taken over after a kill",
        slots.len()
    );

    drop(hosts);
    db.close().await.ok();
    drop_postgres_database(postgres).await;
}

/// SIGTERM while deals pour in and their robots run: the host stops accepting, finishes the runs
/// it holds, writes their ends and exits 0 within its shutdown timeout; a restarted host runs
/// the rest. Every robot ran once per deal, and every comment is there once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_stopped_by_sigterm_finishes_its_runs_and_loses_none() {
    sqlx::any::install_default_drivers();
    let root = tempfile::tempdir().expect("temp dir");
    let postgres = postgres_database().await;
    let slot = Slot {
        data_dir: root.path().to_path_buf(),
        database_url: postgres.as_ref().map(|(_, url)| url.clone()),
        args: Vec::new(),
    };
    let http = reqwest::Client::new();
    let mut host = slot.start().await;
    let ready = http
        .get(format!("{}/readyz", host.base_url))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status().as_u16(), 200, "a started host is ready");
    for text in ["first", "second"] {
        let robot = json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": "add-comment",
                           "config": {"text": text}, "after_previous": text == "second"});
        add_robot(&http, &host, robot).await;
    }
    let mut added = 0;
    for chunk in (0..300).collect::<Vec<_>>().chunks(50) {
        let commands: serde_json::Map<String, Value> = chunk
            .iter()
            .map(|n| (format!("d{n}"), json!(format!("crm.deal.add?fields[TITLE]=stop%20{n}"))))
            .collect();
        rest(
            &http,
            std::slice::from_ref(&host),
            "batch",
            &json!({"halt": 0, "cmd": commands}),
        )
        .await;
        added += chunk.len() as i64;
    }
    let pid = host.child.id().expect("a running host has a pid");
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(signalled.success());
    let exited = tokio::time::timeout(Duration::from_secs(60), host.child.wait())
        .await
        .expect("the host exits after SIGTERM")
        .expect("reap");
    assert!(exited.success(), "a stop on SIGTERM exits 0: {exited}");

    let database_url = postgres
        .as_ref()
        .map(|(_, url)| url.clone())
        .unwrap_or_else(|| format!("sqlite://{}", slot.data_dir.join("stagewright.db").display()));
    let mut db = AnyConnection::connect(&database_url).await.expect("open the database");
    let running = count(&mut db, "SELECT COUNT(*) FROM runs WHERE status = 'running'").await;
    assert_eq!(running, 0, "the stopped host left no run claimed");

    host = slot.start().await;
    let drained_by = Instant::now() + DRAIN;
    while open_runs(&mut db).await > 0 {
        assert!(Instant::now() < drained_by, "runs still open after the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deals = count(&mut db, "SELECT COUNT(*) FROM items WHERE entity_type = 'deal'").await;
    assert_eq!(deals, added, "every acknowledged deal is there");
    let succeeded = count(&mut db, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'").await;
    assert_eq!(succeeded, 2 * deals, "both robots ran once for every deal");
    let comments = count(&mut db, "SELECT COUNT(*) FROM timeline_comments").await;
    assert_eq!(comments, 2 * deals, "each robot's comment committed exactly once");
    let taken_over = count(&mut db, "SELECT COUNT(*) FROM runs WHERE attempt > 1").await;
    assert_eq!(
        taken_over, 0,
        "no run waited out a lease: the stop ended what it had claimed"
    );

    drop(host);
    db.close().await.ok();
    drop_postgres_database(postgres).await;
}

/// A host killed with SIGKILL at a random moment while it commits chain slices (with
/// `--claim-batch 4`, a slice is several batches in one transaction), then started again: each
/// slice was committed whole or not at all, so every robot of every deal's five-robot chain has
/// its effect exactly once, none lost and none doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_killed_mid_slice_keeps_each_slice_whole_or_not_at_all() {
    const DEALS: usize = 150;
    const BATCH: usize = 4;
    const STEPS: [&str; 4] = ["step 1", "step 2", "step 3", "step 4"];
    let robots = STEPS.len() as i64 + 1;
    sqlx::any::install_default_drivers();
    let root = tempfile::tempdir().expect("temp dir");
    let postgres = postgres_database().await;
    let slot = Slot {
        data_dir: root.path().to_path_buf(),
        database_url: postgres.as_ref().map(|(_, url)| url.clone()),
        // Small batches, so a slice holds several; a slice long enough that a slow machine never
        // cuts it short; and a clock the test moves.
        args: vec!["--claim-batch", "4", "--slice-ms", "1000", "--manual-clock"],
    };
    let http = reqwest::Client::new();
    let mut host = slot.start().await;
    for (n, text) in STEPS.iter().enumerate() {
        let mut robot =
            json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": "add-comment", "config": {"text": text}});
        match n {
            // The deals' chains wait for the clock, so they pile up and start together.
            0 => robot["timing"] = json!({"kind": "delay", "value": 1, "unit": "minutes"}),
            _ => robot["after_previous"] = json!(true),
        }
        add_robot(&http, &host, robot).await;
    }
    let last = json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": "change-stage",
                      "config": {"stage_id": "PREPARATION"}, "after_previous": true});
    add_robot(&http, &host, last).await;
    for chunk in (0..DEALS).collect::<Vec<_>>().chunks(50) {
        let commands: serde_json::Map<String, Value> = chunk
            .iter()
            .map(|n| {
                (
                    format!("d{n}"),
                    json!(format!("crm.deal.add?fields[TITLE]=slice%20{n}")),
                )
            })
            .collect();
        rest(
            &http,
            std::slice::from_ref(&host),
            "batch",
            &json!({"halt": 1, "cmd": commands}),
        )
        .await;
    }

    let database_url = postgres
        .as_ref()
        .map(|(_, url)| url.clone())
        .unwrap_or_else(|| format!("sqlite://{}", slot.data_dir.join("stagewright.db").display()));
    let mut db = AnyConnection::connect(&database_url).await.expect("open the database");
    advance_clock(&http, &host, 60_000).await;
    let kill_after = rand::rng().random_range(1..DEALS as i64 * robots - 50);
    let started = Instant::now();
    for polled in 0.. {
        if count(&mut db, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'").await >= kill_after {
            break;
        }
        assert!(Instant::now() < started + DRAIN, "the chains did not run");
        if polled % 100 == 99 {
            // Runs put back for a busy plugin's share of the workers wait for the clock.
            advance_clock(&http, &host, 1_000).await;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let slices = slice_commits(&http, &host, BATCH).await;
    host.child.start_kill().expect("SIGKILL");
    host.child.wait().await.expect("reap");
    let unfinished = open_runs(&mut db).await;
    assert!(unfinished > 0, "the kill left chains to finish");
    assert!(slices > 0.0, "the host was committing chain slices when it was killed");

    host = slot.start().await;
    // The restarted host's clock starts where the first one's stood; runs the dead host had
    // claimed are taken over once their lease has run out.
    advance_clock(&http, &host, 180_000).await;
    let drained_by = Instant::now() + DRAIN;
    while open_runs(&mut db).await > 0 {
        assert!(Instant::now() < drained_by, "runs still open after the restart");
        advance_clock(&http, &host, 1_000).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deals = count(&mut db, "SELECT COUNT(*) FROM items WHERE entity_type = 'deal'").await;
    assert_eq!(deals, DEALS as i64, "every deal added is there");
    let moved = count(
        &mut db,
        "SELECT COUNT(*) FROM items WHERE entity_type = 'deal' AND stage_id = 'PREPARATION'",
    )
    .await;
    assert_eq!(moved, deals, "every deal went through its chain");
    let succeeded = count(&mut db, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'").await;
    let runs = count(&mut db, "SELECT COUNT(*) FROM runs").await;
    assert_eq!(
        (succeeded, runs),
        (robots * deals, robots * deals),
        "every run succeeded once"
    );
    let comments = count(&mut db, "SELECT COUNT(*) FROM timeline_comments").await;
    assert_eq!(comments, STEPS.len() as i64 * deals, "each comment committed once");
    let doubled = count(
        &mut db,
        "SELECT COUNT(*) FROM (SELECT item_id, text FROM timeline_comments GROUP BY item_id, text HAVING COUNT(*) <> 1) d",
    )
    .await;
    assert_eq!(doubled, 0, "no deal has a robot's comment twice");

    drop(host);
    db.close().await.ok();
    drop_postgres_database(postgres).await;
}
