//! The `stagewright` command.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use stagewright::config::remote;
use stagewright::kit::cases::{CASES_FILE, Case, Cases, Expect};
use stagewright::kit::new::Language;
use stagewright::kit::{self, KitError};
use stagewright::tls::Tls;
use stagewright::{Server, Settings};

/// Stagewright: CRM automation with sandboxed WebAssembly actions.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// How log lines are written to stderr: text for people, json (one object per line) for a
    /// log collector.
    #[arg(
        long,
        global = true,
        env = "STAGEWRIGHT_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// The formats log lines can take.
#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line: timestamp, level, target, fields.
    Json,
}

/// Logs to stderr in `format`, filtered by `RUST_LOG` (info by default).
fn init_logging(format: LogFormat) {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

/// `serve`'s options.
#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "STAGEWRIGHT_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory for the SQLite database and the compiled-plugin cache.
    #[arg(long, env = "STAGEWRIGHT_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// PostgreSQL URL (`postgres://user:password@host/db`) to keep the data in instead of SQLite
    /// in the data directory; several hosts on one database share the work.
    #[arg(long, env = "STAGEWRIGHT_DATABASE_URL")]
    database_url: Option<String>,
    /// Scheduler workers in this process.
    #[arg(long, env = "STAGEWRIGHT_WORKERS", default_value_t = 8)]
    workers: usize,
    /// Most robot runs a worker claims in one transaction and finishes in one more (1: a
    /// transaction per run).
    #[arg(long, env = "STAGEWRIGHT_CLAIM_BATCH", default_value_t = 128)]
    claim_batch: usize,
    /// Most workers the runs of one plugin may hold at once (half the workers by default), so
    /// a plugin that sleeps to its wall-time bound cannot stall every other robot.
    #[arg(long, env = "STAGEWRIGHT_WORKERS_PER_PLUGIN")]
    workers_per_plugin: Option<usize>,
    /// Most robot runs one chain slice commits together: consecutive small batches (the robots
    /// of a chain, one after another) run in one write transaction (0: a commit per batch).
    #[arg(long, env = "STAGEWRIGHT_SLICE_RUNS", default_value_t = 32)]
    slice_runs: usize,
    /// Milliseconds a chain slice may hold the write transaction; a run inside a slice that
    /// takes longer runs again on its own.
    #[arg(long, env = "STAGEWRIGHT_SLICE_MS", default_value_t = 5)]
    slice_ms: u64,
    /// Seconds a worker holds a claimed run before another may take it over (a host that
    /// died mid-run loses its runs to the others after this long).
    #[arg(long, env = "STAGEWRIGHT_LEASE_SECONDS", default_value_t = 60)]
    lease_seconds: u64,
    /// Days a finished robot run stays in the history.
    #[arg(long, env = "STAGEWRIGHT_RUN_RETENTION_DAYS", default_value_t = 365)]
    run_retention_days: u64,
    /// Run on a clock that only moves through `POST /api/v1/clock/advance` (for trying out
    /// delayed robots; never in production).
    #[arg(long, env = "STAGEWRIGHT_MANUAL_CLOCK")]
    manual_clock: bool,
    /// SMTP server robots' email leaves through: `smtp://host:25`,
    /// `smtp://user:password@host:587?tls=required` or `smtps://host:465`. Without one,
    /// email stays queued in the outbox (GET /api/v1/outbox).
    #[arg(long, env = "STAGEWRIGHT_SMTP_URL")]
    smtp_url: Option<String>,
    /// The sender of robots' email.
    #[arg(
        long,
        env = "STAGEWRIGHT_MAIL_FROM",
        default_value = "Stagewright <stagewright@localhost>"
    )]
    mail_from: String,
    /// The HTTP gateway robots' text messages (SMS) are posted to, one request per message
    /// with the message id as `Idempotency-Key`. Without one, messages stay queued in the
    /// outbox (GET /api/v1/outbox?channel=sms).
    #[arg(long, env = "STAGEWRIGHT_SMS_GATEWAY_URL")]
    sms_gateway_url: Option<String>,
    /// A header every gateway request carries, `Name: value` (`Authorization: Bearer …`).
    #[arg(long, env = "STAGEWRIGHT_SMS_GATEWAY_HEADER")]
    sms_gateway_header: Option<String>,
    /// The gateway request's body, with `{to}`, `{text}` and `{id}` replaced by the number,
    /// the text and the message id, escaped for `--sms-gateway-content-type`.
    #[arg(long, env = "STAGEWRIGHT_SMS_GATEWAY_BODY", default_value = stagewright::sms::DEFAULT_BODY)]
    sms_gateway_body: String,
    /// The gateway request body's media type.
    #[arg(
        long,
        env = "STAGEWRIGHT_SMS_GATEWAY_CONTENT_TYPE",
        default_value = "application/json"
    )]
    sms_gateway_content_type: String,
    /// A network plugins may call over HTTP although it is internal (loopback, private,
    /// link-local), e.g. `10.1.0.0/16` or `127.0.0.1/32`; repeat for several. Without it,
    /// plugins reach public addresses only.
    #[arg(long = "allow-http-to", env = "STAGEWRIGHT_ALLOW_HTTP_TO", value_delimiter = ',')]
    allow_http_to: Vec<ipnet::IpNet>,
    /// Seconds a stopping host (SIGTERM, Ctrl-C) gives the robots that are running to finish
    /// before it exits; one still running after that is taken over by another host when its
    /// lease expires.
    #[arg(long, env = "STAGEWRIGHT_SHUTDOWN_TIMEOUT", default_value_t = 15)]
    shutdown_timeout: u64,
    /// Serve HTTPS with this certificate chain (PEM, the server's certificate first).
    #[arg(
        long,
        env = "STAGEWRIGHT_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "STAGEWRIGHT_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate for the listen address and localhost, made
    /// in the data directory (tls/cert.pem) and printed, for clients to trust.
    #[arg(long, env = "STAGEWRIGHT_TLS_SELF_SIGNED")]
    tls_self_signed: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the host: HTTP API, scheduler and plugin runtime.
    Serve(Box<ServeArgs>),
    /// Writes a consistent copy of the SQLite database, while the host serves or not (for
    /// PostgreSQL use pg_dump).
    Backup {
        /// The data directory the host serves from.
        #[arg(long, env = "STAGEWRIGHT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// The file to write; it must not exist.
        #[arg(long)]
        to: PathBuf,
    },
    /// Puts a backup in place of the data directory's database; the host must be stopped.
    Restore {
        /// The data directory to restore into.
        #[arg(long, env = "STAGEWRIGHT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// The backup written by `stagewright backup`.
        #[arg(long)]
        from: PathBuf,
    },
    /// Exports or imports a server's configuration (pipelines, stages, custom fields, plugins,
    /// robots, triggers, settings) as one JSON file, to keep in git or move between servers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Writes, builds, tries and installs action plugins.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Writes the server's configuration as JSON to --to, or to standard output.
    Export {
        /// The file to write.
        #[arg(long)]
        to: Option<PathBuf>,
        /// Leave out the components of plugins not built in (the file then imports only where
        /// they are installed).
        #[arg(long)]
        no_components: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Makes the server's configuration what the file says, in one transaction, and prints what
    /// changed; robots and triggers the file leaves out are deleted.
    Import {
        /// A file written by `config export`.
        file: PathBuf,
        /// Print what would change, changing nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// The server a command talks to.
#[derive(clap::Args)]
struct ServerArgs {
    /// The server (`http://127.0.0.1:8080`).
    #[arg(long, env = "STAGEWRIGHT_URL")]
    url: String,
    /// An admin token of that server.
    #[arg(long, env = "STAGEWRIGHT_ADMIN_TOKEN")]
    token: String,
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Creates ./NAME: a working action (manifest, config and return-values schemas,
    /// capabilities), a README and test cases.
    New {
        /// The plugin's id: lowercase letters, digits and dashes.
        name: String,
        /// The language to write it in: rust (cargo), python (componentize-py) or js (jco).
        #[arg(long, value_enum, default_value = "rust")]
        lang: Language,
        /// The Rust SDK's folder (sdk/ of a Stagewright clone); found by itself when this binary
        /// runs from the clone it was built in. Python and JavaScript plugins get theirs from the binary.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Builds the plugin in this folder into a WebAssembly component and prints its path.
    Build {
        /// The plugin's folder.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Runs a plugin in a scratch host (the real runtime and limits, a temporary SQLite store,
    /// the item seeded) and prints each run record; fails unless every run met its test case.
    Test {
        /// The component; by default the plugin in --dir, built first.
        wasm: Option<PathBuf>,
        /// Run once with this robot config (JSON) instead of the test cases.
        #[arg(long)]
        config: Option<String>,
        /// The item for that run (JSON: `{"entity_type": "lead", "fields": {...}}`; a deal by
        /// default).
        #[arg(long)]
        item: Option<String>,
        /// The plugin's folder.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The test cases; plugin-tests.json in --dir by default.
        #[arg(long)]
        cases: Option<PathBuf>,
    },
    /// Shows what a component is and asks for, then uploads it to a server's admin API.
    Install {
        /// The component.
        wasm: PathBuf,
        /// The server (`http://127.0.0.1:8080`).
        #[arg(long, env = "STAGEWRIGHT_URL")]
        url: String,
        /// An admin token of that server.
        #[arg(long, env = "STAGEWRIGHT_ADMIN_TOKEN")]
        token: String,
        /// Install without asking.
        #[arg(long)]
        yes: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Serve(args) => {
            let ServeArgs {
                listen,
                data_dir,
                database_url,
                workers,
                claim_batch,
                workers_per_plugin,
                slice_runs,
                slice_ms,
                lease_seconds,
                run_retention_days,
                manual_clock,
                smtp_url,
                mail_from,
                sms_gateway_url,
                sms_gateway_header,
                sms_gateway_body,
                sms_gateway_content_type,
                allow_http_to,
                shutdown_timeout,
                tls_cert,
                tls_key,
                tls_self_signed,
            } = *args;
            let mut settings = Settings::new(data_dir);
            settings.listen = listen;
            settings.database_url = database_url;
            settings.scheduler.workers = workers.max(1);
            settings.scheduler.claim_batch = claim_batch.max(1);
            settings.scheduler.plugin_share = workers_per_plugin;
            settings.scheduler.slice_runs = slice_runs;
            settings.scheduler.slice_time = std::time::Duration::from_millis(slice_ms.max(1));
            settings.scheduler.lease = std::time::Duration::from_secs(lease_seconds.max(1));
            settings.scheduler.retention = std::time::Duration::from_secs(run_retention_days.saturating_mul(86_400));
            settings.manual_clock = manual_clock;
            settings.mail.smtp_url = smtp_url;
            settings.mail.from = mail_from;
            settings.sms.gateway_url = sms_gateway_url;
            settings.sms.header = sms_gateway_header;
            settings.sms.body_template = sms_gateway_body;
            settings.sms.content_type = sms_gateway_content_type;
            settings.http.allow_internal = allow_http_to;
            settings.tls = match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => Some(Tls::Files { cert, key }),
                _ => tls_self_signed.then_some(Tls::SelfSigned),
            };
            let server = Server::start(settings).await?;
            print!("{}", banner(&server));
            server
                .run_until_stopped(std::time::Duration::from_secs(shutdown_timeout))
                .await
        }
        Command::Backup { data_dir, to } => {
            let bytes = stagewright::backup::backup(&data_dir, &to)?;
            println!("Wrote {} ({bytes} bytes)", to.display());
            Ok(())
        }
        Command::Restore { data_dir, from } => {
            stagewright::backup::restore(&data_dir, &from)?;
            println!("Restored {} into {}", from.display(), data_dir.display());
            Ok(())
        }
        Command::Config { command } => match config(command).await {
            Ok(()) => Ok(()),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2)
            }
        },
        Command::Plugin { command } => match plugin(command).await {
            Ok(code) => std::process::exit(code),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2)
            }
        },
    }
}

/// What `serve` prints once it listens: the URLs and the admin token. One string, written at
/// once, so a reader that stops after the line it wants (a script, a test) cannot make a later
/// line's write fail.
fn banner(server: &Server) -> String {
    let mut text = format!(
        "Stagewright is listening on {}\nAdmin token:  {}  (send as: Authorization: Bearer <token>)\nWebhook URL:  {}\nBoard:        {0}/  (sign in with the admin token)\n",
        server.base_url(),
        server.admin_token,
        server.webhook_url()
    );
    if let Some(cert) = &server.self_signed_cert {
        text.push_str(&format!(
            "Certificate:  {}  (self-signed: trust it with REQUESTS_CA_BUNDLE=<path> or NODE_EXTRA_CA_CERTS=<path>)\n",
            cert.display()
        ));
    }
    text
}

/// Runs a `config` subcommand.
async fn config(command: ConfigCommand) -> Result<(), remote::RemoteError> {
    match command {
        ConfigCommand::Export {
            to,
            no_components,
            server,
        } => remote::export(&server.url, &server.token, !no_components, to.as_deref()).await,
        ConfigCommand::Import { file, dry_run, server } => {
            println!("{}", remote::import(&server.url, &server.token, &file, dry_run).await?);
            Ok(())
        }
    }
}

/// Runs a `plugin` subcommand; returns the exit code.
async fn plugin(command: PluginCommand) -> Result<i32, KitError> {
    match command {
        PluginCommand::New { name, lang, sdk } => {
            let dir = kit::new::create(&name, lang, None, sdk.as_deref())?;
            println!(
                "Created {}. Next: cd {0} && stagewright plugin build && stagewright plugin test",
                dir.display()
            );
            Ok(0)
        }
        PluginCommand::Build { dir } => {
            println!("{}", kit::build::build(&dir)?.display());
            Ok(0)
        }
        PluginCommand::Test {
            wasm,
            config,
            item,
            dir,
            cases,
        } => {
            let wasm = match wasm {
                Some(wasm) => wasm,
                None => kit::build::build(&dir)?,
            };
            let bytes = std::fs::read(&wasm).map_err(|e| KitError::Invalid(format!("{}: {e}", wasm.display())))?;
            let cases = match (config, item) {
                (None, None) => Cases::read(&cases.unwrap_or_else(|| dir.join(CASES_FILE)))?,
                (config, item) => one_case(config.as_deref(), item.as_deref())?,
            };
            let failed =
                kit::test::run_cases(&bytes, &cases, &kit::compiled_code_cache(), &mut std::io::stdout()).await?;
            Ok(i32::from(failed > 0))
        }
        PluginCommand::Install { wasm, url, token, yes } => {
            let bytes = std::fs::read(&wasm).map_err(|e| KitError::Invalid(format!("{}: {e}", wasm.display())))?;
            println!("{}", kit::install::install(&bytes, &url, &token, yes).await?);
            Ok(0)
        }
    }
}

/// The run asked for on the command line, which must succeed.
fn one_case(config: Option<&str>, item: Option<&str>) -> Result<Cases, KitError> {
    let parse = |what: &str, text: &str| {
        serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| KitError::Invalid(format!("--{what} is not JSON: {e}")))
    };
    let config = config
        .map(|c| parse("config", c))
        .transpose()?
        .unwrap_or_else(|| serde_json::json!({}));
    let item = match item {
        Some(text) => {
            serde_json::from_value(parse("item", text)?).map_err(|e| KitError::Invalid(format!("--item: {e}")))?
        }
        None => Default::default(),
    };
    Ok(Cases {
        cases: vec![Case {
            name: "from the command line".into(),
            item,
            config,
            expect: Expect::default(),
        }],
    })
}
