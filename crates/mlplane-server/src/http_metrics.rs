//! Request counters and latency histograms, rendered in Prometheus text format at `/metrics`
//! together with the store's per-operation timings.
//!
//! Invariants:
//! - routes are labelled by their matched pattern (`/api/v1/workspaces/{ws}/runs/{run_id}`),
//!   never by the raw path, so label cardinality stays bounded.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default, Clone)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Counters of served requests by method, route and status.
#[derive(Default)]
pub struct HttpMetrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
}

impl HttpMetrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let Ok(mut m) = self.series.lock() else {
            return;
        };
        let s = m
            .entry((method.to_string(), route.to_string(), status))
            .or_default();
        s.count += 1;
        s.sum += seconds;
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                s.buckets[i] += 1;
            }
        }
    }

    /// Prometheus exposition text.
    pub fn render(&self, store: &[mlplane_store::OpTiming], engine: &str) -> String {
        let mut out = String::new();
        let snapshot = self.series.lock().map(|m| m.clone()).unwrap_or_default();
        out.push_str("# HELP mlplane_http_requests_total HTTP requests served.\n# TYPE mlplane_http_requests_total counter\n");
        for ((method, route, status), s) in &snapshot {
            let _ = writeln!(
                out,
                "mlplane_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}",
                escape(route),
                s.count
            );
        }
        out.push_str("# HELP mlplane_http_request_duration_seconds HTTP request latency.\n# TYPE mlplane_http_request_duration_seconds histogram\n");
        for ((method, route, status), s) in &snapshot {
            let labels = format!(
                "method=\"{method}\",route=\"{}\",status=\"{status}\"",
                escape(route)
            );
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "mlplane_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "mlplane_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "mlplane_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "mlplane_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        out.push_str("# HELP mlplane_store_operations_total Metadata store operations.\n# TYPE mlplane_store_operations_total counter\n");
        for t in store {
            let _ = writeln!(
                out,
                "mlplane_store_operations_total{{engine=\"{engine}\",op=\"{}\"}} {}",
                t.op, t.count
            );
        }
        out.push_str("# HELP mlplane_store_operation_errors_total Failed metadata store operations.\n# TYPE mlplane_store_operation_errors_total counter\n");
        for t in store {
            let _ = writeln!(
                out,
                "mlplane_store_operation_errors_total{{engine=\"{engine}\",op=\"{}\"}} {}",
                t.op, t.errors
            );
        }
        out.push_str("# HELP mlplane_store_operation_seconds_total Time spent in metadata store operations.\n# TYPE mlplane_store_operation_seconds_total counter\n");
        for t in store {
            let _ = writeln!(
                out,
                "mlplane_store_operation_seconds_total{{engine=\"{engine}\",op=\"{}\"}} {}",
                t.op, t.total_seconds
            );
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Middleware recording every request.
pub async fn track(State(state): State<crate::AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let resp = next.run(req).await;
    state.metrics.observe(
        &method,
        &route,
        resp.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    resp
}
