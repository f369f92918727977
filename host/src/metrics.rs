//! What `GET /metrics` tells Prometheus, in its text format. Counters and histograms are updated
//! as the host works (runs ended by the scheduler, HTTP requests answered); the queue's states,
//! the scheduler's lag, the outbox's depth and the pool's use are read at each scrape, so they
//! are right for every host on a shared PostgreSQL. Each host keeps its own registry: several
//! hosts in one process (tests, embedding) do not add up each other's counts. docs/metrics.md
//! describes every metric.

use std::time::Duration;

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::clock::Millis;
use crate::model::CrmError;
use crate::outbox;
use crate::queue::{self, RunEnd};
use crate::store::Store;

/// Buckets for robot runs, in seconds: from a trivial Rust action's ~0.1 ms to the 10 s wall-time
/// bound.
const RUN_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0, 2.5, 10.0,
];

/// Buckets for the runs one scheduler commit ends: one robot alone, a chain slice (at most 32 by
/// default), a full claim batch (128).
const COMMIT_BUCKETS: [f64; 8] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

/// Buckets for HTTP requests, in seconds.
const HTTP_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The REST method families reported by name; any other family counts as `rest_other`, so a
/// client calling made-up methods cannot grow the label set.
const REST_FAMILIES: [&str; 9] = [
    "crm",
    "tasks",
    "user",
    "department",
    "im",
    "batch",
    "bizproc",
    "log",
    "profile",
];

/// The host's metrics.
pub struct Metrics {
    registry: Registry,
    run_ends: IntCounterVec,
    run_duration: HistogramVec,
    commit_runs: Histogram,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    runs: IntGaugeVec,
    lag: Gauge,
    outbox: IntGaugeVec,
    pool: IntGaugeVec,
}

impl Metrics {
    /// A registry with every metric, and `stagewright_build_info` naming this build and its
    /// database (`sqlite`, `postgres`).
    pub fn new(database: &str) -> Self {
        let registry = Registry::new();
        let metrics = Self {
            run_ends: counter(
                &registry,
                "stagewright_run_ends_total",
                "Robot runs ended by the scheduler, by plugin and the state each went to.",
                &["plugin", "status"],
            ),
            run_duration: histogram(
                &registry,
                "stagewright_run_duration_seconds",
                "Time of one robot run in its sandbox, host calls included, by plugin.",
                &["plugin"],
                &RUN_BUCKETS,
            ),
            commit_runs: registered(
                &registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "stagewright_scheduler_commit_runs",
                        "Runs ended by one commit of a scheduler worker: a batch, or a chain slice of consecutive batches.",
                    )
                    .buckets(COMMIT_BUCKETS.to_vec()),
                ),
            ),
            http_requests: counter(
                &registry,
                "stagewright_http_requests_total",
                "HTTP requests answered, by family and status class.",
                &["family", "status"],
            ),
            http_duration: histogram(
                &registry,
                "stagewright_http_request_duration_seconds",
                "Time from a request's arrival to its answer, by family.",
                &["family"],
                &HTTP_BUCKETS,
            ),
            runs: gauge(
                &registry,
                "stagewright_runs",
                "Unfinished robot runs by state: due, scheduled, waiting, running, parked.",
                &["state"],
            ),
            lag: registered(
                &registry,
                Gauge::new(
                    "stagewright_scheduler_lag_seconds",
                    "Age of the oldest due run: how far the workers are behind (0 when none is due).",
                ),
            ),
            outbox: gauge(
                &registry,
                "stagewright_outbox_messages",
                "Email in the outbox not yet sent.",
                &["state"],
            ),
            pool: gauge(
                &registry,
                "stagewright_db_pool_connections",
                "Database read connections by state: in_use, idle.",
                &["state"],
            ),
            registry,
        };
        let build = gauge(
            &metrics.registry,
            "stagewright_build_info",
            "Always 1; the labels name the build and its database.",
            &["version", "database"],
        );
        build.with_label_values(&[env!("CARGO_PKG_VERSION"), database]).set(1);
        metrics
    }

    /// Counts the runs a committed transaction ended.
    pub fn runs_ended(&self, ends: &[RunEnd<'_>]) {
        for end in ends {
            let plugin = end.run.plugin_id.as_str();
            let status = if end.deferred { "deferred" } else { end.status.as_str() };
            self.run_ends.with_label_values(&[plugin, status]).inc();
            if let Some(us) = end.duration_us {
                self.run_duration.with_label_values(&[plugin]).observe(us as f64 / 1e6);
            }
        }
    }

    /// Counts one scheduler commit that ended `runs` runs.
    pub fn commit_ended(&self, runs: usize) {
        self.commit_runs.observe(runs as f64);
    }

    /// Counts one answered request to `path` with `status`, taking `elapsed`.
    pub fn http_request(&self, path: &str, status: u16, elapsed: Duration) {
        let family = family_of(path);
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.http_requests.with_label_values(&[family, class]).inc();
        self.http_duration
            .with_label_values(&[family])
            .observe(elapsed.as_secs_f64());
    }

    /// The metrics in Prometheus' text format, the queue, outbox and pool read now.
    pub async fn render(&self, store: &Store, now: Millis) -> Result<String, CrmError> {
        let mut conn = store.pool().acquire().await?;
        let counts = queue::counts(&mut conn, now).await?;
        let unsent = outbox::depth(&mut conn).await?;
        drop(conn);
        for (state, count) in [
            ("due", counts.due),
            ("scheduled", counts.scheduled),
            ("waiting", counts.waiting),
            ("running", counts.running),
            ("parked", counts.parked),
        ] {
            self.runs.with_label_values(&[state]).set(count);
        }
        let lag_ms = counts.oldest_due_at.map_or(0, |due| now.saturating_sub(due).max(0));
        self.lag.set(lag_ms as f64 / 1000.0);
        self.outbox.with_label_values(&["unsent"]).set(unsent);
        let (in_use, idle) = store.pool().usage();
        self.pool.with_label_values(&["in_use"]).set(gauge_value(in_use));
        self.pool.with_label_values(&["idle"]).set(gauge_value(idle));
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut text)
            .expect("metrics encode as text");
        Ok(String::from_utf8(text).expect("the text format is UTF-8"))
    }
}

/// Registers a new metric with `registry`; the names and help texts are constants, so a
/// failure is a bug.
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<M>,
) -> M {
    let metric = metric.expect("a valid metric");
    registry.register(Box::new(metric.clone())).expect("registered once");
    metric
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    registered(registry, IntCounterVec::new(Opts::new(name, help), labels))
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    registered(registry, IntGaugeVec::new(Opts::new(name, help), labels))
}

fn histogram(registry: &Registry, name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    registered(registry, HistogramVec::new(opts, labels))
}

fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// The family a request path belongs to: a REST method's family (`crm`, `tasks`, …), `rest_v3`,
/// `rest_other`, `admin` (`/api/v1`), `probe` (`/healthz`, `/readyz`, `/metrics`) or `board`.
fn family_of(path: &str) -> &'static str {
    if path.starts_with("/api/") {
        return "admin";
    }
    if matches!(path, "/healthz" | "/readyz" | "/metrics") {
        return "probe";
    }
    let Some(rest) = path.strip_prefix("/rest/") else {
        return "board";
    };
    if rest.starts_with("api/") {
        return "rest_v3";
    }
    let method = rest.rsplit('/').next().unwrap_or_default();
    let family = method.split('.').next().unwrap_or_default().to_ascii_lowercase();
    REST_FAMILIES
        .iter()
        .find(|known| **known == family)
        .copied()
        .unwrap_or("rest_other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_a_bounded_set_of_families() {
        assert_eq!(family_of("/rest/1/abc/crm.deal.add.json"), "crm");
        assert_eq!(family_of("/rest/1/abc/CRM.deal.Get"), "crm");
        assert_eq!(family_of("/rest/1/abc/batch"), "batch");
        assert_eq!(family_of("/rest/crm.deal.update"), "crm");
        assert_eq!(family_of("/rest/1/abc/made.up.method"), "rest_other");
        assert_eq!(family_of("/rest/api/1/abc/tasks.task.list"), "rest_v3");
        assert_eq!(family_of("/api/v1/robots"), "admin");
        assert_eq!(family_of("/metrics"), "probe");
        assert_eq!(family_of("/board/deal/0"), "board");
    }
}
