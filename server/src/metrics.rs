//! Prometheus metrics: request counts and latencies per endpoint (a middleware on the router), and
//! the sync numbers the handlers in `http::sync` read off requests and replies.
//!
//! Every server owns its registry (it lives in the server's `AppState`), so several servers in one
//! process, as in the tests, do not mix their numbers. The text is OpenMetrics, which Prometheus reads.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use sync_core::protocol::{PushResponse, PushStatus};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Endpoint {
    method: String,
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointStatus {
    method: String,
    endpoint: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Refusal {
    status: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Limit {
    limit: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The metrics of one server.
pub struct Metrics {
    registry: Registry,
    requests: Family<EndpointStatus, Counter>,
    latency: HistogramFamily<Endpoint>,
    pushes: Counter,
    pulls: Counter,
    push_docs: Family<Outcome, Counter>,
    changes_applied: Counter,
    refusals: Family<Refusal, Counter>,
    pulled_docs: Counter,
    device_lag: Histogram,
    /// Shared with `ReadAhead`, which counts the pages it answers.
    pub pages_read_ahead: Counter,
    pub push_merged_again: Counter,
    /// Stored records that failed to load; see `fieldsync-server repair`.
    pub unloadable_records: Counter,
    rate_limited: Family<Limit, Counter>,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<EndpointStatus, Counter>::default();
        registry.register(
            "fieldsync_http_requests",
            "HTTP requests answered, by endpoint and status",
            requests.clone(),
        );
        let latency: HistogramFamily<Endpoint> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "fieldsync_http_request_duration_seconds",
            "Time to answer a request, by endpoint",
            latency.clone(),
        );
        let pushes = Counter::default();
        registry.register(
            "fieldsync_sync_pushes",
            "Push calls answered",
            pushes.clone(),
        );
        let pulls = Counter::default();
        registry.register("fieldsync_sync_pulls", "Pull calls answered", pulls.clone());
        let push_docs = Family::<Outcome, Counter>::default();
        registry.register(
            "fieldsync_sync_push_docs",
            "Pushed documents, by outcome",
            push_docs.clone(),
        );
        let changes_applied = Counter::default();
        registry.register(
            "fieldsync_sync_changes_applied",
            "Changes carried by pushed documents that were applied",
            changes_applied.clone(),
        );
        let refusals = Family::<Refusal, Counter>::default();
        registry.register(
            "fieldsync_sync_refusals",
            "Pushed documents rejected or quarantined, by reason code",
            refusals.clone(),
        );
        let pulled_docs = Counter::default();
        registry.register(
            "fieldsync_sync_pulled_docs",
            "Document updates sent to devices",
            pulled_docs.clone(),
        );
        // Feed positions: 1 to about 1,000,000.
        let device_lag = Histogram::new(exponential_buckets(1.0, 4.0, 11));
        registry.register(
            "fieldsync_sync_device_lag",
            "How many feed positions a device's cursor is behind the feed head when it pulls",
            device_lag.clone(),
        );
        let pages_read_ahead = Counter::default();
        registry.register(
            "fieldsync_sync_pages_read_ahead",
            "First-sync pages answered from a read ahead",
            pages_read_ahead.clone(),
        );
        let push_merged_again = Counter::default();
        registry.register(
            "fieldsync_sync_push_merged_again",
            "Push batches merged again inside their write transaction because a record they read \
             changed after they were merged",
            push_merged_again.clone(),
        );
        let unloadable_records = Counter::default();
        registry.register(
            "fieldsync_sync_unloadable_records",
            "Times a stored record failed to load from its chunks, or a chunk of it to open (each is logged with its id; \
             `fieldsync-server repair` rebuilds it)",
            unloadable_records.clone(),
        );
        let rate_limited = Family::<Limit, Counter>::default();
        registry.register(
            "fieldsync_rate_limited",
            "Requests refused by a rate limit, by limit",
            rate_limited.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            pushes,
            pulls,
            push_docs,
            changes_applied,
            refusals,
            pulled_docs,
            device_lag,
            pages_read_ahead,
            push_merged_again,
            unloadable_records,
            rate_limited,
        }
    }

    /// The metrics in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// Counts a push's documents by outcome; `changes[i]` is how many changes document `i` carried.
    pub fn pushed(&self, changes: &[usize], response: &PushResponse) {
        self.pushes.inc();
        for (result, n) in response.results.iter().zip(changes) {
            let status = result.status.as_str();
            self.push_docs
                .get_or_create(&Outcome {
                    status: status.into(),
                })
                .inc();
            match result.status {
                PushStatus::Applied => {
                    self.changes_applied.inc_by(*n as u64);
                }
                PushStatus::Rejected | PushStatus::Quarantined => {
                    let reason = result
                        .reason
                        .as_ref()
                        .map_or_else(|| "unspecified".to_string(), |r| r.code.clone());
                    self.refusals
                        .get_or_create(&Refusal {
                            status: status.into(),
                            reason,
                        })
                        .inc();
                }
                PushStatus::AlreadyKnown | PushStatus::MissingDependencies => {}
            }
        }
    }

    /// Counts a pull: `lag` feed positions between the device's cursor and the head, `docs` sent.
    pub fn pulled(&self, lag: i64, docs: usize) {
        self.pulls.inc();
        self.device_lag.observe(lag.max(0) as f64);
        self.pulled_docs.inc_by(docs as u64);
    }

    /// One routed request, by its route template (`/v1/devices/{id}`, never the raw path, so ids do
    /// not blow up the number of series).
    pub fn request(&self, method: String, endpoint: String, status: u16, took: Duration) {
        self.latency
            .get_or_create(&Endpoint {
                method: method.clone(),
                endpoint: endpoint.clone(),
            })
            .observe(took.as_secs_f64());
        self.requests
            .get_or_create(&EndpointStatus {
                method,
                endpoint,
                status,
            })
            .inc();
    }

    pub fn rate_limited(&self, limit: &str) {
        self.rate_limited
            .get_or_create(&Limit {
                limit: limit.into(),
            })
            .inc();
    }
}
