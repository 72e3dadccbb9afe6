//! Prometheus metrics of `ikp serve`: requests by endpoint/method/status, latency histograms, offloaded pods
//! and the number of requests sent to the remote API server.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The `method` label of every request whose method is not a standard HTTP one.
pub(super) const OTHER_METHOD: &str = "other";

/// The `method` label of a request: the standard methods by name, every extension method as
/// [`OTHER_METHOD`], so the label set stays bounded whatever clients send.
pub(super) fn method_label(method: &http::Method) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT",
    ];
    STANDARD
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or(OTHER_METHOD)
}

/// Labels of the request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RequestLabels {
    /// Route, e.g. `/status`.
    pub endpoint: String,
    /// HTTP method.
    pub method: String,
    /// HTTP status code.
    pub status: u16,
}

/// Labels of the latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct EndpointLabels {
    /// Route.
    pub endpoint: String,
}

/// All metrics, registered once.
pub(super) struct Metrics {
    registry: Registry,
    /// `ikp_http_requests_total`.
    pub requests: Family<RequestLabels, Counter>,
    /// `ikp_http_request_duration_seconds`.
    pub latency: Family<EndpointLabels, Histogram>,
    /// `ikp_offloaded_pods`: remote pods in the status cache.
    pub offloaded_pods: Gauge,
    /// `ikp_status_cache_synced`: 1 once the cache is synced.
    pub cache_synced: Gauge,
    /// `ikp_remote_api_requests_total`: requests sent to the remote API server (watches count once).
    pub remote_api_requests: Counter,
    /// `ikp_pending_cleanups`: failed cleanups of pods waiting for a background retry.
    pub pending_cleanups: Gauge,
    /// `ikp_runtime_alive_tasks`: tasks alive in the async runtime (a leak shows as steady growth).
    pub runtime_tasks: Gauge,
    /// `ikp_leader`: 1 while this replica holds the leader Lease (and runs the sweep).
    pub leader: Gauge,
    /// `ikp_orphan_sweeps`: sweeps for leftovers this replica has run (only while leading).
    pub orphan_sweeps: Gauge,
    /// `ikp_log_streams_open`: `/getLogs` responses streaming now.
    pub log_streams_open: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("ikp");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests served, by endpoint, method and status",
            requests.clone(),
        );
        let latency = Family::<EndpointLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to the response headers, by endpoint",
            latency.clone(),
        );
        let offloaded_pods = Gauge::default();
        registry.register(
            "offloaded_pods",
            "Remote pods owned by the plugin (status cache size)",
            offloaded_pods.clone(),
        );
        let cache_synced = Gauge::default();
        registry.register(
            "status_cache_synced",
            "1 once the remote pod cache has synced",
            cache_synced.clone(),
        );
        let remote_api_requests = Counter::default();
        registry.register(
            "remote_api_requests",
            "HTTP requests sent to the remote Kubernetes API server (the leader Lease's renewals not included)",
            remote_api_requests.clone(),
        );
        let pending_cleanups = Gauge::default();
        registry.register(
            "pending_cleanups",
            "Pods whose remote objects are still to be deleted by a background retry",
            pending_cleanups.clone(),
        );
        let runtime_tasks = Gauge::default();
        registry.register(
            "runtime_alive_tasks",
            "Tasks alive in the plugin's async runtime",
            runtime_tasks.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease and runs the background sweep",
            leader.clone(),
        );
        let orphan_sweeps = Gauge::default();
        registry.register(
            "orphan_sweeps",
            "Sweeps for objects of pods without a remote pod run by this replica (only while it leads)",
            orphan_sweeps.clone(),
        );
        let log_streams_open = Gauge::default();
        registry.register(
            "log_streams_open",
            "/getLogs responses streaming now (each holds one remote log stream)",
            log_streams_open.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            offloaded_pods,
            cache_synced,
            remote_api_requests,
            pending_cleanups,
            runtime_tasks,
            leader,
            orphan_sweeps,
            log_streams_open,
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_labels_are_the_standard_methods_or_other() {
        assert_eq!(method_label(&http::Method::POST), "POST");
        assert_eq!(method_label(&http::Method::CONNECT), "CONNECT");
        for invented in ["get", "PROPFIND", &"M".repeat(8000)] {
            let method = http::Method::from_bytes(invented.as_bytes()).expect("token");
            assert_eq!(method_label(&method), OTHER_METHOD);
        }
    }
}
