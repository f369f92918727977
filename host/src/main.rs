//! The `stagewright` command.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use stagewright::{Server, Settings};

/// Stagewright: CRM automation with sandboxed WebAssembly actions.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the host: HTTP API, scheduler and plugin runtime.
    Serve {
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
        /// A network plugins may call over HTTP although it is internal (loopback, private,
        /// link-local), e.g. `10.1.0.0/16` or `127.0.0.1/32`; repeat for several. Without it,
        /// plugins reach public addresses only.
        #[arg(long = "allow-http-to", env = "STAGEWRIGHT_ALLOW_HTTP_TO", value_delimiter = ',')]
        allow_http_to: Vec<ipnet::IpNet>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve {
            listen,
            data_dir,
            database_url,
            workers,
            claim_batch,
            lease_seconds,
            run_retention_days,
            manual_clock,
            smtp_url,
            mail_from,
            allow_http_to,
        } => {
            let mut settings = Settings::new(data_dir);
            settings.listen = listen;
            settings.database_url = database_url;
            settings.scheduler.workers = workers.max(1);
            settings.scheduler.claim_batch = claim_batch.max(1);
            settings.scheduler.lease = std::time::Duration::from_secs(lease_seconds.max(1));
            settings.scheduler.retention = std::time::Duration::from_secs(run_retention_days.saturating_mul(86_400));
            settings.manual_clock = manual_clock;
            settings.mail.smtp_url = smtp_url;
            settings.mail.from = mail_from;
            settings.http.allow_internal = allow_http_to;
            let server = Server::start(settings).await?;
            println!("Stagewright is listening on {}", server.base_url());
            println!(
                "Admin token:  {}  (send as: Authorization: Bearer <token>)",
                server.admin_token
            );
            println!("Webhook URL:  {}", server.webhook_url());
            server.run_until_interrupted().await
        }
    }
}
