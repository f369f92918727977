//! The end-to-end test kit: a real host on a temporary database, listening on a free loopback
//! port, and an HTTP client that talks to it the way integrations and admins do.
//!
//! The database is a fresh SQLite file per host, or, when `STAGEWRIGHT_TEST_POSTGRES` holds the URL
//! of a PostgreSQL server (`postgres://user@127.0.0.1/postgres`), a fresh database created there
//! per host: the same suite runs against both.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{AnyConnection, Connection, Executor};
use stagewright::store::DATABASE_FILE;
use stagewright::{Server, Settings};

pub mod browser;
pub mod smtp;

include!(concat!(env!("OUT_DIR"), "/test_plugins.rs"));

/// A test plugin's component, built from tests/plugins/NAME.
pub fn test_plugin(name: &str) -> &'static [u8] {
    TEST_PLUGINS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, wasm)| *wasm)
        .unwrap_or_else(|| panic!("no test plugin {name}"))
}

/// A board session as a signed-in browser holds it.
pub struct BoardSession {
    /// The `Cookie` header value that names the session.
    pub cookie: String,
    /// The CSRF token the board's pages carry, which every change must send back.
    pub csrf: String,
}

/// A host under test.
pub struct TestHost {
    /// The running server.
    pub server: Server,
    /// Its data directory (removed when the host is dropped).
    pub data_dir: tempfile::TempDir,
    /// The PostgreSQL database it runs on, when the suite runs on PostgreSQL.
    postgres: Option<PostgresDatabase>,
    http: reqwest::Client,
}

/// The variable naming the PostgreSQL server to run the suite against.
pub const POSTGRES_VARIABLE: &str = "STAGEWRIGHT_TEST_POSTGRES";

/// A database of its own on the server named by [`POSTGRES_VARIABLE`], dropped with the host.
struct PostgresDatabase {
    server: String,
    name: String,
    url: String,
}

impl PostgresDatabase {
    /// Creates an empty database, if the suite runs on PostgreSQL.
    async fn create() -> Option<Self> {
        let server = std::env::var(POSTGRES_VARIABLE).ok()?;
        let name = format!("stagewright_test_{:016x}", rand::random::<u64>());
        let mut admin = sqlx::PgConnection::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_VARIABLE}={server}: {e}"));
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        let (base, _) = server.rsplit_once('/').expect("a database URL ends in /DBNAME");
        let url = format!("{base}/{name}");
        Some(Self { server, name, url })
    }
}

impl Drop for PostgresDatabase {
    /// Drops the database from a thread of its own: the test's runtime may be shutting down.
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&server).await?;
                admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await?;
                Ok::<_, sqlx::Error>(())
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

/// An HTTP client for tests: it drops idle connections well before the host's HTTP/1 idle close
/// (hyper's 30 s header-read timeout), so a request after a long pause (a plugin compiling, a
/// subprocess) never goes out on a connection the host is closing at that moment.
pub fn http_client() -> reqwest::ClientBuilder {
    reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(10))
}

/// Compiled plugin code is shared by every test host of a run and the plugin kit's scratch
/// hosts, so each test does not recompile what another compiled.
fn shared_cache() -> PathBuf {
    std::env::temp_dir().join("stagewright-test-compile-cache")
}

impl TestHost {
    /// Starts a host with default settings.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a host after `adjust` has changed its settings.
    pub async fn start_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let postgres = PostgresDatabase::create().await;
        Self::start_in(data_dir, postgres, adjust).await
    }

    async fn start_in(
        data_dir: tempfile::TempDir,
        postgres: Option<PostgresDatabase>,
        adjust: impl FnOnce(&mut Settings),
    ) -> Self {
        let mut settings = Settings::new(data_dir.path().to_path_buf());
        settings.database_url = postgres.as_ref().map(|db| db.url.clone());
        settings.listen = "127.0.0.1:0".parse().expect("address");
        settings.cache_dir = Some(shared_cache());
        settings.scheduler.poll = Duration::from_millis(50);
        adjust(&mut settings);
        let server = Server::start(settings).await.expect("host starts");
        Self {
            server,
            data_dir,
            postgres,
            http: http_client().build().expect("client"),
        }
    }

    /// Stops the host and starts a new one on the same database, as after a deploy.
    pub async fn restart(self) -> Self {
        let Self {
            server,
            data_dir,
            postgres,
            ..
        } = self;
        drop(server);
        Self::start_in(data_dir, postgres, |_| {}).await
    }

    /// The URL of the host's database.
    pub fn database_url(&self) -> String {
        self.postgres
            .as_ref()
            .map(|db| db.url.clone())
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.path().join(DATABASE_FILE).display()))
    }

    /// A direct connection to the host's database, for tests that check or damage what is stored.
    pub async fn database(&self) -> AnyConnection {
        sqlx::any::install_default_drivers();
        AnyConnection::connect(&self.database_url())
            .await
            .expect("connect to the test database")
    }

    /// Calls a REST method with a JSON body; returns the HTTP status and the JSON answer.
    pub async fn rest(&self, method: &str, params: Value) -> (u16, Value) {
        self.rest_via(&self.server.webhook_url(), method, params).await
    }

    /// [`TestHost::rest`] through another webhook: `webhook` is its URL or its `/rest/…/` path.
    pub async fn rest_via(&self, webhook: &str, method: &str, params: Value) -> (u16, Value) {
        let base = if webhook.starts_with('/') {
            format!("{}{webhook}", self.server.base_url())
        } else {
            webhook.to_string()
        };
        let url = format!("{base}{method}");
        let response = self.http.post(url).json(&params).send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON answer"))
    }

    /// Calls a REST method that must succeed; returns its `result`.
    pub async fn ok(&self, method: &str, params: Value) -> Value {
        let (status, body) = self.rest(method, params).await;
        assert_eq!(status, 200, "{method} failed: {body}");
        body["result"].clone()
    }

    /// Sends an admin API request with the admin token.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.server.base_url());
        let mut request = self.http.request(method, url).bearer_auth(&self.server.admin_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).expect("JSON answer")
            },
        )
    }

    /// Signs in to the board as its sign-in page posts (`form`: email and password, or `token`);
    /// answers the session's cookie and the CSRF token its pages carry.
    pub async fn board_session(&self, form: &[(&str, &str)]) -> BoardSession {
        let http = http_client()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let base = self.server.base_url();
        let answer = http
            .post(format!("{base}/login"))
            .form(form)
            .send()
            .await
            .expect("sign in");
        assert_eq!(answer.status(), 303, "signed in and sent to the board");
        let set_cookie = answer.headers()[reqwest::header::SET_COOKIE]
            .to_str()
            .expect("a cookie");
        let cookie = set_cookie.split(';').next().expect("a cookie").to_string();
        let page = http
            .get(format!("{base}/board/deal/0"))
            .header(reqwest::header::COOKIE, &cookie);
        let page = page.send().await.expect("board").text().await.expect("page");
        let csrf = page
            .split(r#"name="csrf-token" content=""#)
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the page carries its CSRF token")
            .to_string();
        BoardSession { cookie, csrf }
    }

    /// Uploads a component as an admin would.
    pub async fn install(&self, wasm: &[u8]) -> (u16, Value) {
        let url = format!("{}/api/v1/plugins", self.server.base_url());
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.server.admin_token)
            .header("content-type", "application/wasm")
            .body(wasm.to_vec())
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON answer"))
    }

    /// Attaches a robot to a deal stage; returns its id.
    pub async fn add_robot(&self, stage_id: &str, plugin_id: &str, config: Value) -> String {
        self.add_robot_with(stage_id, plugin_id, config, json!({})).await
    }

    /// Attaches a robot to a deal stage with more settings (`timing`, `condition`,
    /// `after_previous`) in `extra`; returns its id.
    pub async fn add_robot_with(&self, stage_id: &str, plugin_id: &str, config: Value, extra: Value) -> String {
        self.add_robot_on("deal", stage_id, plugin_id, config, extra).await
    }

    /// Attaches a robot to a stage of any entity type ("lead", "dynamic_128", ...), with more
    /// settings in `extra`; returns its id.
    pub async fn add_robot_on(
        &self,
        entity_type: &str,
        stage_id: &str,
        plugin_id: &str,
        config: Value,
        extra: Value,
    ) -> String {
        let mut robot =
            json!({"entity_type": entity_type, "stage_id": stage_id, "plugin_id": plugin_id, "config": config});
        for (key, value) in extra.as_object().cloned().unwrap_or_default() {
            robot[key] = value;
        }
        let (status, body) = self.admin(reqwest::Method::POST, "/api/v1/robots", Some(robot)).await;
        assert_eq!(status, 201, "adding robot failed: {body}");
        body["id"].as_str().expect("robot id").to_string()
    }

    /// The samples of `GET /metrics`, by name with labels (`name{a="b"}`), as Prometheus reads
    /// them.
    pub async fn metrics(&self) -> HashMap<String, f64> {
        let answer = self
            .http
            .get(format!("{}/metrics", self.server.base_url()))
            .send()
            .await
            .expect("scrape");
        assert_eq!(answer.status(), 200, "no token needed");
        let content_type = answer.headers()["content-type"].to_str().unwrap().to_string();
        assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
        let text = answer.text().await.expect("metrics text");
        text.lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let (name, value) = line.rsplit_once(' ').expect("a sample and its value");
                (name.to_string(), value.parse().expect("a number"))
            })
            .collect()
    }

    /// Moves a manual clock forward; returns the new time.
    pub async fn advance_clock(&self, ms: i64) -> i64 {
        let (status, body) = self
            .admin(reqwest::Method::POST, "/api/v1/clock/advance", Some(json!({"ms": ms})))
            .await;
        assert_eq!(status, 200, "{body}");
        body["now_ms"].as_i64().expect("now_ms")
    }

    /// Waits (up to 30 s) until a run of the robot for the deal has finished; returns it.
    pub async fn finished_run(&self, deal_id: i64, robot_id: &str) -> Value {
        self.finished_run_of("deal", deal_id, robot_id).await
    }

    /// Waits (up to 30 s) until a run of the robot for an item of any entity type has finished;
    /// returns it.
    pub async fn finished_run_of(&self, entity_type: &str, item_id: i64, robot_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let done = self.runs_of(entity_type, item_id).await.into_iter().find(|r| {
                r["robot_id"] == robot_id && !matches!(r["status"].as_str(), Some("waiting" | "pending" | "running"))
            });
            if let Some(run) = done {
                return run;
            }
            assert!(
                Instant::now() < deadline,
                "robot {robot_id} did not finish for {entity_type} {item_id}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The run records of a deal, newest first.
    pub async fn runs(&self, deal_id: i64) -> Vec<Value> {
        self.runs_of("deal", deal_id).await
    }

    /// The run records of an item of any entity type, newest first.
    pub async fn runs_of(&self, entity_type: &str, item_id: i64) -> Vec<Value> {
        let path = format!("/api/v1/runs?entity_type={entity_type}&item_id={item_id}");
        let (status, body) = self.admin(reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200, "{body}");
        body["runs"].as_array().expect("runs").clone()
    }

    /// Waits (up to 30 s) until the deal has `count` runs that are finished; returns them. A
    /// chained run still `waiting` for the one before it has not finished (nor even started).
    pub async fn finished_runs(&self, deal_id: i64, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let runs = self.runs(deal_id).await;
            let finished = runs
                .iter()
                .filter(|r| !matches!(r["status"].as_str(), Some("waiting" | "pending" | "running")))
                .count();
            if finished >= count {
                return runs;
            }
            assert!(Instant::now() < deadline, "runs did not finish in time: {runs:#?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Adds an employee named `name` (email `name@example.com`) to the company; returns its id.
    pub async fn add_user(&self, name: &str) -> i64 {
        let user = json!({"EMAIL": format!("{name}@example.com"), "NAME": name, "UF_DEPARTMENT": [1]});
        self.ok("user.add", user).await.as_i64().expect("user id")
    }

    /// Adds an employee named `name` (email `name@example.com`) to `department`, with a webhook
    /// of their own (every scope); returns the user's id and the webhook's `/rest/…/` path.
    pub async fn add_employee(&self, name: &str, department: i64) -> (i64, String) {
        let user = json!({"EMAIL": format!("{name}@example.com"), "NAME": name, "LAST_NAME": "Test", "UF_DEPARTMENT": [department]});
        let id = self.ok("user.add", user).await.as_i64().expect("user id");
        let (status, hook) = self
            .admin(reqwest::Method::POST, "/api/v1/webhooks", Some(json!({"user_id": id})))
            .await;
        assert_eq!(status, 201, "{hook}");
        (id, hook["path"].as_str().expect("webhook path").to_string())
    }

    /// Adds a "Sales" department under the company, headed by a new employee `head`; returns
    /// the department, and the head's id and webhook path.
    pub async fn add_sales_department(&self, head: &str) -> (i64, (i64, String)) {
        let sales = self.ok("department.add", json!({"NAME": "Sales", "PARENT": 1})).await;
        let sales = sales.as_i64().expect("department id");
        let (boss, hook) = self.add_employee(head, sales).await;
        self.ok("department.update", json!({"ID": sales, "UF_HEAD": boss}))
            .await;
        (sales, (boss, hook))
    }

    /// Creates a deal with a title; returns its id.
    pub async fn add_deal(&self, title: &str) -> i64 {
        let id = self.ok("crm.deal.add", json!({"fields": {"TITLE": title}})).await;
        id.as_i64().expect("deal id")
    }

    /// Reads a deal.
    pub async fn deal(&self, id: i64) -> Value {
        self.ok("crm.deal.get", json!({"id": id})).await
    }

    /// Moves a deal to a stage.
    pub async fn move_deal(&self, id: i64, stage_id: &str) {
        self.ok("crm.deal.update", json!({"id": id, "fields": {"STAGE_ID": stage_id}}))
            .await;
    }

    /// The deal's timeline comments' texts, oldest first.
    pub async fn comments(&self, id: i64) -> Vec<String> {
        let result = self
            .ok(
                "crm.timeline.comment.list",
                json!({"filter": {"ENTITY_ID": id, "ENTITY_TYPE": "deal"}}),
            )
            .await;
        result
            .as_array()
            .expect("comments")
            .iter()
            .map(|c| c["COMMENT"].as_str().expect("text").to_string())
            .collect()
    }
}

/// Builds a copy of the plugin in `folder` (relative to the workspace; its `files` and
/// plugin-tests.json are copied, because a build writes under the plugin's folder) with the
/// plugin kit, as its author would, and fails unless its test cases pass in the kit's scratch
/// host; answers the component.
pub async fn kit_built(folder: &str, files: &[&str]) -> Vec<u8> {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(folder);
    let dir = tempfile::tempdir().unwrap();
    for file in files.iter().chain(&[stagewright::kit::cases::CASES_FILE]) {
        std::fs::copy(source.join(file), dir.path().join(file)).unwrap();
    }
    let plugin = dir.path().to_path_buf();
    let built = tokio::task::spawn_blocking(move || stagewright::kit::build::build(&plugin))
        .await
        .unwrap();
    let wasm = built.unwrap_or_else(|e| panic!("the kit builds {folder} ({e})"));
    let cases = stagewright::kit::cases::Cases::read(&dir.path().join(stagewright::kit::cases::CASES_FILE)).unwrap();
    let bytes = std::fs::read(wasm).unwrap();
    let mut report = Vec::new();
    let failed = stagewright::kit::test::run_cases(&bytes, &cases, &shared_cache(), &mut report)
        .await
        .unwrap();
    assert_eq!(failed, 0, "{}", String::from_utf8_lossy(&report));
    bytes
}

/// Runs a program that must succeed.
pub fn run(program: &std::path::Path, args: &[&str]) {
    let status = std::process::Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    assert!(status.success(), "{} {args:?} failed", program.display());
}

/// A virtual environment under `dir` (a test's `CARGO_TARGET_TMPDIR`) with
/// tests/python/requirements.txt installed, the Bitrix24 client libraries the tests drive; one
/// per database the suite runs on, since CI runs both suites at once. Answers its python.
pub fn python_with_test_tools(dir: &std::path::Path) -> PathBuf {
    let suite = match std::env::var_os(POSTGRES_VARIABLE) {
        Some(_) => "python-venv-postgres",
        None => "python-venv",
    };
    let venv = dir.join(suite);
    let python = venv.join("bin").join("python");
    if !python.exists() {
        run(std::path::Path::new("python3"), &["-m", "venv", venv.to_str().unwrap()]);
    }
    let requirements = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/requirements.txt");
    run(
        &python,
        &[
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            requirements.to_str().unwrap(),
        ],
    );
    python
}

/// Installs a hostile plugin (modes `loop`, `memory` and `bug`, each staging a comment first) on
/// a host with `memory_mib` of memory and 100 M fuel per run, runs each mode as a robot, and
/// checks that every run failed with the error its mode must give (`bug`'s is the plugin's
/// own), that its comment was thrown away, and that the host still serves.
pub async fn assert_hostile_plugin_fails_alone(wasm: &[u8], plugin_id: &str, memory_mib: usize, bug_error: &str) {
    let host = TestHost::start_with(|s| {
        s.limits.fuel = 100_000_000;
        s.limits.memory_bytes = memory_mib << 20;
    })
    .await;
    let (status, installed) = host.install(wasm).await;
    assert_eq!(status, 201, "{installed}");
    let memory_error = format!("exceeded its memory limit of {memory_mib} MiB");
    for (stage, mode, error) in [
        ("PREPARATION", "loop", "ran out of its CPU budget"),
        ("PREPAYMENT_INVOICE", "memory", memory_error.as_str()),
        ("EXECUTING", "bug", bug_error),
    ] {
        let robot = host.add_robot(stage, plugin_id, json!({"mode": mode})).await;
        let deal = host.add_deal("Untouchable").await;
        host.move_deal(deal, stage).await;
        let run = host.finished_run(deal, &robot).await;
        assert_eq!(run["status"], "failed", "{mode}: {run}");
        let reason = run["error"].as_str().unwrap();
        assert!(reason.contains(error), "{mode}: {reason}");
        assert!(
            host.comments(deal).await.is_empty(),
            "{mode}: its comment was thrown away"
        );
    }
    let next = host.add_deal("Still serving").await;
    assert_eq!(host.deal(next).await["TITLE"], "Still serving");
}

/// A thread that, given a deal, tells when `runs` of its robot runs have succeeded. It polls
/// every 50 µs with a thread sleep: a tokio sleep lasts at least a millisecond, which would add
/// up to that much to every latency sample of the benches that use it.
pub fn succeeded_runs_watcher(
    database_url: String,
    runs: i64,
) -> std::sync::mpsc::Sender<(i64, tokio::sync::oneshot::Sender<()>)> {
    let (requests, incoming) = std::sync::mpsc::channel::<(i64, tokio::sync::oneshot::Sender<()>)>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let store = runtime
            .block_on(stagewright::store::Store::open(&database_url))
            .expect("open the database");
        for (deal, finished) in incoming {
            loop {
                let done: i64 = runtime
                    .block_on(
                        stagewright::store::query_scalar(
                            "SELECT COUNT(*) FROM runs WHERE entity_type = 'deal' AND item_id = $1 AND status = 'succeeded'",
                        )
                        .bind(deal)
                        .fetch_one(store.pool()),
                    )
                    .expect("count the deal's runs");
                if done >= runs {
                    break;
                }
                std::thread::sleep(Duration::from_micros(50));
            }
            let _ = finished.send(());
        }
    });
    requests
}
