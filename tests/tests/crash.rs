//! A host killed with SIGKILL while its workers run chains, then started again on the same
//! database: each chain slice was committed whole or not at all, so after recovery every robot's
//! effect is there exactly once, none lost and none doubled.
//!
//! The host runs in a process of its own: this test's binary, started again on this one test
//! with [`CHILD_DIR`] set, serves until it is killed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{AnyConnection, Connection};
use stagewright::store::DATABASE_FILE;
use stagewright::{Server, Settings};
use stagewright_tests::{PostgresDatabase, http_client, shared_cache};

/// Set in the child process: the data directory to serve.
const CHILD_DIR: &str = "STAGEWRIGHT_CRASH_CHILD_DIR";
/// Set in the child process when it runs on PostgreSQL: the database's URL.
const CHILD_DATABASE: &str = "STAGEWRIGHT_CRASH_CHILD_DATABASE";
/// What the child writes into its data directory once it serves.
const ENDPOINT_FILE: &str = "endpoint.json";

/// The chain's comments, one robot each, and the stage its last robot moves the deal to.
const STEPS: [&str; 4] = ["Step 1", "Step 2", "Step 3", "Step 4"];
const FINAL_STAGE: &str = "PREPARATION";
/// Robots in the chain: the comments and the move.
const ROBOTS: i64 = STEPS.len() as i64 + 1;
/// Deals added, in batches of 50, before their chains start; the host is killed before they are
/// done.
const DEALS: usize = 150;
/// Runs a worker claims at once: a slice is then several batches, committed together.
const CLAIM_BATCH: usize = 4;

/// A host in a child process, reached over HTTP.
struct HostProcess {
    child: Child,
    base_url: String,
    webhook_url: String,
    admin_token: String,
    http: reqwest::Client,
}

impl HostProcess {
    /// Starts this test's binary as a host on `dir` (and `database`), and waits until it serves.
    async fn start(dir: &Path, database: Option<&str>) -> Self {
        let endpoint = dir.join(ENDPOINT_FILE);
        let _ = std::fs::remove_file(&endpoint);
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "--exact",
                "a_host_killed_mid_chain_keeps_each_slice_whole_or_not_at_all",
                "--nocapture",
            ])
            .env(CHILD_DIR, dir)
            .stdout(Stdio::null());
        if let Some(url) = database {
            command.env(CHILD_DATABASE, url);
        }
        let child = command.spawn().expect("start the host process");
        let started = Instant::now();
        let written = loop {
            if let Ok(text) = std::fs::read_to_string(&endpoint) {
                break text;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the host process did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let endpoint: Value = serde_json::from_str(&written).unwrap();
        Self {
            child,
            base_url: endpoint["base_url"].as_str().unwrap().to_string(),
            webhook_url: endpoint["webhook_url"].as_str().unwrap().to_string(),
            admin_token: endpoint["admin_token"].as_str().unwrap().to_string(),
            http: http_client().build().unwrap(),
        }
    }

    /// Calls a REST method; `None` once the host is gone.
    async fn rest(&self, method: &str, params: Value) -> Option<Value> {
        let response = self
            .http
            .post(format!("{}{method}", self.webhook_url))
            .json(&params)
            .send()
            .await
            .ok()?;
        assert_eq!(response.status(), 200, "{method}");
        Some(response.json::<Value>().await.ok()?["result"].clone())
    }

    async fn admin(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(&self.admin_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap()
    }

    /// Kills the process at once, as a crash would: nothing is flushed or rolled back.
    fn kill(self) {
        drop(self);
    }

    /// Commits that ended more runs than one claimed batch holds: chain slices.
    async fn commits_of_more_than_one_batch(&self) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.base_url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let sample = |name: &str| -> f64 {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {text}"))
        };
        sample("stagewright_scheduler_commit_runs_count")
            - sample(&format!(
                "stagewright_scheduler_commit_runs_bucket{{le=\"{CLAIM_BATCH}\"}}"
            ))
    }

    /// Every deal, by id and stage, a page at a time.
    async fn deals(&self) -> Vec<(i64, String)> {
        let mut deals = Vec::new();
        loop {
            let after = deals.last().map_or(0, |(id, _)| *id);
            let page = self
                .rest(
                    "crm.deal.list",
                    json!({"filter": {">ID": after}, "order": {"ID": "ASC"}, "select": ["ID", "STAGE_ID"], "start": -1}),
                )
                .await
                .unwrap();
            let page = page.as_array().unwrap();
            if page.is_empty() {
                return deals;
            }
            deals.extend(page.iter().map(|deal| {
                let id = deal["ID"].as_str().unwrap().parse::<i64>().unwrap();
                (id, deal["STAGE_ID"].as_str().unwrap().to_string())
            }));
        }
    }
}

impl Drop for HostProcess {
    /// SIGKILL, also when the test fails: the process must not outlive it.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child: serves `dir` on a manual clock until it is killed.
async fn serve_until_killed(dir: PathBuf) {
    let mut settings = Settings::new(dir.clone());
    settings.database_url = std::env::var(CHILD_DATABASE).ok();
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.cache_dir = Some(shared_cache());
    settings.manual_clock = true;
    settings.scheduler.claim_batch = CLAIM_BATCH;
    // A slice this long is never cut short by a slow test machine.
    settings.scheduler.slice_time = Duration::from_secs(1);
    let server = Server::start(settings).await.expect("host starts");
    let endpoint = json!({
        "base_url": server.base_url(),
        "webhook_url": server.webhook_url(),
        "admin_token": server.admin_token,
    });
    let written = dir.join(format!("{ENDPOINT_FILE}.new"));
    std::fs::write(&written, endpoint.to_string()).unwrap();
    std::fs::rename(&written, dir.join(ENDPOINT_FILE)).unwrap();
    std::future::pending::<()>().await;
}

/// A connection of the test's own to the host's database.
async fn database_connection(database_url: &str) -> AnyConnection {
    sqlx::any::install_default_drivers();
    AnyConnection::connect(database_url).await.unwrap()
}

/// Runs that succeeded, and runs not over yet, read straight from the database.
async fn run_counts(db: &mut AnyConnection) -> (i64, i64) {
    let succeeded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE status = 'succeeded'")
        .fetch_one(&mut *db)
        .await
        .unwrap();
    let unfinished: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE status IN ('pending', 'running', 'waiting', 'parked')")
            .fetch_one(db)
            .await
            .unwrap();
    (succeeded, unfinished)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_killed_mid_chain_keeps_each_slice_whole_or_not_at_all() {
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        return serve_until_killed(PathBuf::from(dir)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let postgres = PostgresDatabase::create().await;
    let database = postgres.as_ref().map(|db| db.url.as_str());
    let database_url = database.map_or_else(
        || format!("sqlite://{}", dir.path().join(DATABASE_FILE).display()),
        str::to_string,
    );

    let host = HostProcess::start(dir.path(), database).await;
    let mut previous: Option<String> = None;
    for step in STEPS
        .iter()
        .map(|text| ("add-comment", json!({"text": text})))
        .chain([("change-stage", json!({"stage_id": FINAL_STAGE}))])
    {
        let (plugin, config) = step;
        let mut robot = json!({"entity_type": "deal", "stage_id": "NEW", "plugin_id": plugin, "config": config});
        match previous {
            Some(_) => robot["after_previous"] = json!(true),
            // The deals' chains wait for the clock, so they pile up and start together.
            None => robot["timing"] = json!({"kind": "delay", "value": 1, "unit": "minutes"}),
        }
        previous = Some(
            host.admin("/api/v1/robots", robot).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }

    for first in (0..DEALS).step_by(50) {
        let cmd: serde_json::Map<String, Value> = (first..first + 50)
            .map(|n| (format!("d{n}"), json!(format!("crm.deal.add?fields[TITLE]=Deal_{n}"))))
            .collect();
        let answer = host.rest("batch", json!({"halt": 1, "cmd": cmd})).await.unwrap();
        assert_eq!(answer["result_error"].as_array().map_or(0, Vec::len), 0, "{answer}");
    }

    // A minute later every chain starts, and the host is killed once some are done, with many
    // in the middle.
    host.admin("/api/v1/clock/advance", json!({"ms": 60_000})).await;
    let mut db = database_connection(&database_url).await;
    let started = Instant::now();
    // Anywhere from the first slices to the last.
    let kill_after = rand::random_range(1..DEALS as i64 * ROBOTS - 50);
    for polled in 0.. {
        if run_counts(&mut db).await.0 >= kill_after {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the chains did not run");
        if polled % 100 == 99 {
            // Runs put back for their plugin's share of the workers are due a second later.
            host.admin("/api/v1/clock/advance", json!({"ms": 1_000})).await;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let slices = host.commits_of_more_than_one_batch().await;
    host.kill();
    let (at_kill, unfinished_at_kill) = run_counts(&mut db).await;
    assert!(unfinished_at_kill > 0, "the crash left runs to finish");
    assert!(slices > 0.0, "the host was committing chain slices when it was killed");

    let host = HostProcess::start(dir.path(), database).await;
    // The restarted host's clock starts where the first one's stood; runs the dead host had
    // claimed are taken over once their lease has run out.
    host.admin("/api/v1/clock/advance", json!({"ms": 180_000})).await;
    let started = Instant::now();
    while run_counts(&mut db).await.1 > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the chains did not finish"
        );
        // Runs put back for their plugin's share of the workers are due a second later.
        host.admin("/api/v1/clock/advance", json!({"ms": 1_000})).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let deals = host.deals().await;
    assert_eq!(deals.len(), DEALS, "every deal added is there");
    assert!(
        at_kill < deals.len() as i64 * ROBOTS,
        "killed with chains still to run: {at_kill} of {} runs done",
        deals.len() as i64 * ROBOTS
    );
    for (id, stage) in &deals {
        assert_eq!(stage, FINAL_STAGE, "deal {id} went through its chain");
        let comments = host
            .rest(
                "crm.timeline.comment.list",
                json!({"filter": {"ENTITY_ID": id, "ENTITY_TYPE": "deal"}}),
            )
            .await
            .unwrap();
        let mut texts: Vec<&str> = comments
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["COMMENT"].as_str().unwrap())
            .collect();
        texts.sort_unstable();
        assert_eq!(texts, STEPS, "deal {id}: every step's comment exactly once");
    }
    let (succeeded, _) = run_counts(&mut db).await;
    assert_eq!(succeeded, deals.len() as i64 * ROBOTS, "every run succeeded once");
    host.kill();
}
