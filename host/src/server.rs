//! Wiring: opens the store, sets up the runtime with the built-in plugins, starts the scheduler's
//! workers and the HTTP server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use tokio::task::JoinHandle;

use crate::api::{self, AppState};
use crate::clock::Clock;
use crate::directory::{self, TokenKind};
use crate::mailer::{MailSettings, Mailer};
use crate::metrics::Metrics;
use crate::outbox;
use crate::runtime::{HttpPolicy, Limits, Runtime};
use crate::scheduler::{Scheduler, SchedulerSettings};
use crate::sms::{Gateway, SmsSettings};
use crate::store::{Backend, Store};
use crate::tls::{Certificate, Tls};
use axum_server::tls_rustls::RustlsConfig;

include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));

/// How to run a host.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Where the SQLite database lives (unless `database_url` is set) and the plugin cache.
    pub data_dir: PathBuf,
    /// A `postgres://` (or `sqlite://`) URL to use instead of SQLite in the data directory.
    pub database_url: Option<String>,
    /// Where compiled plugin code is cached; `<data_dir>/cache` when unset.
    pub cache_dir: Option<PathBuf>,
    /// Run on a manual clock that only moves when told.
    pub manual_clock: bool,
    /// Per-run sandbox bounds.
    pub limits: Limits,
    /// Scheduler pacing.
    pub scheduler: SchedulerSettings,
    /// Outgoing email.
    pub mail: MailSettings,
    /// Outgoing text messages.
    pub sms: SmsSettings,
    /// Plugins' outbound HTTP.
    pub http: HttpPolicy,
    /// HTTPS instead of plain HTTP.
    pub tls: Option<Tls>,
}

impl Settings {
    /// Defaults for a data directory: listen on 127.0.0.1:8080, wall clock.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir,
            database_url: None,
            cache_dir: None,
            manual_clock: false,
            limits: Limits::default(),
            scheduler: SchedulerSettings::default(),
            mail: MailSettings::default(),
            sms: SmsSettings::default(),
            http: HttpPolicy::default(),
            tls: None,
        }
    }
}

/// A running host; dropping it stops it.
pub struct Server {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The admin API token of user 1.
    pub admin_token: String,
    /// The inbound-webhook token of user 1.
    pub webhook_token: String,
    /// The shared state, for embedding and benchmarks.
    pub state: AppState,
    /// The self-signed certificate's PEM file, when the host made one, for clients to trust.
    pub self_signed_cert: Option<PathBuf>,
    /// Whether it serves HTTPS.
    tls: bool,
    /// The scheduler's workers, which end by themselves when the host stops.
    workers: Vec<JoinHandle<()>>,
    /// The HTTP server, the mailer: stopped, not waited for.
    tasks: Vec<JoinHandle<()>>,
    /// Tells the HTTP server to stop accepting connections and finish the requests in hand.
    http: axum_server::Handle<SocketAddr>,
}

impl Server {
    /// `http://addr`, or `https://addr` when it serves TLS.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The ready-to-use inbound webhook URL, ending in `/`.
    pub fn webhook_url(&self) -> String {
        format!("{}/rest/1/{}/", self.base_url(), self.webhook_token)
    }

    /// Starts a host: migrations, plugins, scheduler workers, HTTP.
    pub async fn start(settings: Settings) -> anyhow::Result<Self> {
        let store = match &settings.database_url {
            Some(url) => Store::open(url).await?,
            None => Store::open_sqlite(&settings.data_dir).await?,
        };
        let clock = if settings.manual_clock {
            Clock::manual()
        } else {
            Clock::System
        };
        let cache_dir = settings
            .cache_dir
            .clone()
            .unwrap_or_else(|| settings.data_dir.join("cache"));
        std::fs::create_dir_all(&cache_dir)?;
        let cache = Dir::open_ambient_dir(&cache_dir, ambient_authority())?;
        let runtime = Arc::new(Runtime::new(cache, settings.limits, settings.http.clone())?);
        runtime.load_installed(&store).await?;
        for registration in crate::apps::all(&mut store.pool().acquire().await?).await? {
            runtime.register_app(registration);
        }
        runtime.install_builtins(&store, BUILTIN_PLUGINS, clock.now()).await?;
        let (admin_token, webhook_token) = ensure_tokens(&store, clock.now()).await?;
        let database = match store.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        let metrics = Arc::new(Metrics::new(database));
        let scheduler = Arc::new(Scheduler::new(
            store.clone(),
            runtime.clone(),
            clock.clone(),
            settings.scheduler,
            metrics.clone(),
        ));
        let workers = scheduler.spawn_workers();
        let mut tasks = Vec::new();
        match Mailer::new(&settings.mail)? {
            Some(mailer) => tasks.push(outbox::spawn(
                Arc::new(mailer),
                store.clone(),
                clock.clone(),
                settings.mail.retries,
            )),
            None => tracing::warn!("no SMTP server configured (--smtp-url): robots' email stays in the outbox"),
        }
        match Gateway::new(&settings.sms, runtime.outbound(), store.clone())? {
            Some(gateway) => tasks.push(outbox::spawn(
                Arc::new(gateway),
                store.clone(),
                clock.clone(),
                settings.sms.retries,
            )),
            None => tracing::info!(
                "no SMS gateway configured (--sms-gateway-url): robots' text messages stay in the outbox"
            ),
        }
        let state = AppState {
            store,
            runtime,
            scheduler,
            clock,
            metrics,
        };
        let listener = std::net::TcpListener::bind(settings.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let certificate = match &settings.tls {
            Some(tls) => Some(tls.certificate(&settings.data_dir, addr)?),
            None => None,
        };
        let scheme = if certificate.is_some() { "https" } else { "http" };
        state.runtime.set_base_url(format!("{scheme}://{addr}"));
        let http = axum_server::Handle::new();
        tasks.push(serve_http(
            listener,
            certificate.as_ref(),
            http.clone(),
            api::router(state.clone()),
        )?);
        Ok(Self {
            addr,
            admin_token,
            webhook_token,
            state,
            self_signed_cert: certificate
                .as_ref()
                .filter(|c| c.self_signed)
                .map(|c| c.cert_path.clone()),
            tls: certificate.is_some(),
            workers,
            tasks,
            http,
        })
    }

    /// Serves until the process gets SIGTERM or Ctrl-C, then stops within `timeout`
    /// ([`Self::stop`]).
    pub async fn run_until_stopped(self, timeout: Duration) -> anyhow::Result<()> {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            interrupted = tokio::signal::ctrl_c() => interrupted?,
            _ = terminate.recv() => {}
        }
        tracing::info!(
            timeout_secs = timeout.as_secs_f64(),
            "stopping: finishing the robot runs in hand"
        );
        let finished = self.stop(timeout).await;
        if finished {
            tracing::info!("stopped");
        } else {
            tracing::warn!("stopped with runs still running: their leases expire and another host takes them over");
        }
        Ok(())
    }

    /// Stops the host: no new HTTP connections, no more claims; the robots that are running finish
    /// and their ends are written, for at most `timeout`. Returns whether they all finished in
    /// time. A run cut off after that keeps its lease until it expires and then runs again
    /// (fenced by its attempt number), so nothing is lost or done twice either way.
    pub async fn stop(mut self, timeout: Duration) -> bool {
        self.http.graceful_shutdown(None);
        self.state.scheduler.stop_claiming();
        let workers = std::mem::take(&mut self.workers);
        let all_ended = async {
            for worker in workers {
                let _ = worker.await;
            }
        };
        tokio::time::timeout(timeout, all_ended).await.is_ok()
    }
}

/// Serves `app` on `listener`, over TLS with `certificate` if given, with HTTP/1.1 and HTTP/2.
fn serve_http(
    listener: std::net::TcpListener,
    certificate: Option<&Certificate>,
    handle: axum_server::Handle<SocketAddr>,
    app: axum::Router,
) -> std::io::Result<JoinHandle<()>> {
    let service = app.into_make_service();
    let serving = match certificate {
        Some(certificate) => {
            let config = RustlsConfig::from_config(certificate.config.clone());
            let server = axum_server::from_tcp_rustls(listener, config)?.handle(handle);
            tokio::spawn(async move { report(server.serve(service).await) })
        }
        None => {
            let server = axum_server::from_tcp(listener)?.handle(handle);
            tokio::spawn(async move { report(server.serve(service).await) })
        }
    };
    Ok(serving)
}

fn report(served: std::io::Result<()>) {
    if let Err(e) = served {
        tracing::error!(error = %e, "HTTP server stopped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for task in self.tasks.iter().chain(&self.workers) {
            task.abort();
        }
    }
}

/// User 1's admin and webhook tokens, created on first start.
async fn ensure_tokens(store: &Store, now: i64) -> anyhow::Result<(String, String)> {
    let mut tx = store.write().await?;
    let mut tokens = Vec::new();
    for kind in [TokenKind::Admin, TokenKind::Webhook] {
        let token = match directory::first_token(&mut tx, 1, kind).await? {
            Some(token) => token,
            None => directory::issue_token(&mut tx, 1, kind, &directory::all_scopes(), now).await?,
        };
        tokens.push(token);
    }
    tx.commit().await?;
    Ok((tokens[0].clone(), tokens[1].clone()))
}
