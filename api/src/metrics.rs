//! Prometheus metrics: requests and latencies per route, appends per command,
//! notifies and reconciler actions by outcome; served as text at `GET /metrics`.
//! The HTTP layer feeds the request counts (`http::track`); services the rest.
//!
//! Why `prometheus-client` and a registry per app rather than a global recorder:
//! the tests run several servers in one process, and each must count only its own.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use paylog_engine::Committed;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabels {
    command: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotifyLabels {
    kind: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: String,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms to ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    appends: Family<CommandLabels, Counter>,
    events: Family<CommandLabels, Counter>,
    notifies: Family<NotifyLabels, Counter>,
    reconciler: Family<ActionLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("paylog");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        let appends = Family::<CommandLabels, Counter>::default();
        let events = Family::<CommandLabels, Counter>::default();
        let notifies = Family::<NotifyLabels, Counter>::default();
        let reconciler = Family::<ActionLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route",
            latency.clone(),
        );
        registry.register(
            "commands_appended",
            "Commands that appended to the log, by command",
            appends.clone(),
        );
        registry.register(
            "events_appended",
            "Events appended to the log, by command",
            events.clone(),
        );
        registry.register(
            "wechat_notifies",
            "WeChat notifies received, by kind and outcome",
            notifies.clone(),
        );
        registry.register(
            "reconciler_actions",
            "Reconciler checks and their results",
            reconciler.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            appends,
            events,
            notifies,
            reconciler,
        }
    }

    /// Counts what a command appended (nothing for a duplicate or a no-op), under the
    /// name the engine gave it from the command's type.
    pub fn appended(&self, committed: &Committed) {
        if committed.appended == 0 {
            return;
        }
        let labels = CommandLabels {
            command: committed.command.to_owned(),
        };
        self.appends.get_or_create(&labels).inc();
        self.events
            .get_or_create(&labels)
            .inc_by(committed.appended as u64);
    }

    /// Counts a notify by kind (`pay`, `refund`) and outcome.
    pub fn notify(&self, kind: &str, outcome: &str) {
        self.notifies
            .get_or_create(&NotifyLabels {
                kind: kind.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts a reconciler action (`checked`, `confirmed`, `closed`, `error`).
    pub fn reconciler(&self, action: &str) {
        self.reconciler
            .get_or_create(&ActionLabels {
                action: action.to_owned(),
            })
            .inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("encoding metrics failed");
        }
        out
    }

    /// Counts one HTTP request and its latency under its route template.
    pub fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }
}
