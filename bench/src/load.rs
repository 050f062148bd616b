//! The load generator's engine: send pre-built requests with a fixed number in flight,
//! count successes and errors, and time the whole batch together with the CPU the server
//! and the bench itself spent on it.
//!
//! Invariants:
//! - a request counts as an error if it fails to send, answers non-2xx, or its body cannot
//!   be read; its units (points, runs) are then not counted;
//! - every response body is read to the end, so the connection goes back to the pool;
//! - nothing is serialized inside a timed section: requests arrive here as `Url` + `Bytes`.

use crate::api::clip;
use crate::procfs;
use bytes::Bytes;
use futures::StreamExt;
use reqwest::{Client, Method, Url};
use std::time::{Duration, Instant};

/// One pre-built request and what it is worth when it succeeds.
#[derive(Clone)]
pub struct Req {
    pub url: Url,
    pub body: Bytes,
    /// Points or runs carried by this request.
    pub units: u64,
}

/// What a timed batch of requests achieved.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Units (points, runs) of the requests that succeeded.
    pub units: u64,
    pub requests: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// CPU seconds spent by the server's process tree during the batch.
    pub server_cpu: f64,
    /// CPU seconds spent by the bench during the batch.
    pub bench_cpu: f64,
    /// Per-request latencies, where the workload records them (concurrent writers).
    pub latencies: Vec<Duration>,
}

impl Outcome {
    /// Successful units per second of wall time.
    pub fn rate(&self) -> f64 {
        self.units as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn record(&mut self, units: u64, r: Result<(), String>) {
        self.requests += 1;
        match r {
            Ok(()) => self.units += units,
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }

    /// The `q` quantile (0..=1) of the recorded latencies.
    pub fn latency_quantile(&self, q: f64) -> Option<Duration> {
        if self.latencies.is_empty() {
            return None;
        }
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let i = ((sorted.len() - 1) as f64 * q).round() as usize;
        sorted.get(i).copied()
    }

    fn merge(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        self.units += other.units;
        self.requests += other.requests;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Wall time plus server and bench CPU time, from `start` to `finish`.
pub struct Stopwatch {
    server_pid: u32,
    wall: Instant,
    server_cpu: f64,
    bench_cpu: f64,
}

impl Stopwatch {
    pub fn start(server_pid: u32) -> Self {
        let server_cpu = procfs::tree_cpu_secs(server_pid);
        let bench_cpu = procfs::self_cpu_secs();
        Self {
            server_pid,
            wall: Instant::now(),
            server_cpu,
            bench_cpu,
        }
    }

    /// Fills in `elapsed`, `server_cpu` and `bench_cpu` of `out`.
    pub fn finish(self, mut out: Outcome) -> Outcome {
        out.elapsed = self.wall.elapsed();
        out.server_cpu = (procfs::tree_cpu_secs(self.server_pid) - self.server_cpu).max(0.0);
        out.bench_cpu = (procfs::self_cpu_secs() - self.bench_cpu).max(0.0);
        out
    }
}

/// Sends one request and reads its whole answer.
pub async fn send(client: &Client, method: Method, url: Url, body: Bytes) -> Result<(), String> {
    let resp = client
        .request(method, url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| format!("read: {e}"))?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!(
            "HTTP {status}: {}",
            clip(&String::from_utf8_lossy(&bytes))
        ))
    }
}

/// POSTs `reqs` with at most `inflight` outstanding, timing the whole batch.
pub async fn pipelined(
    client: &Client,
    server_pid: u32,
    reqs: Vec<Req>,
    inflight: usize,
) -> Outcome {
    let watch = Stopwatch::start(server_pid);
    let mut out = Outcome::default();
    let mut results = futures::stream::iter(reqs)
        .map(|r| async move { (r.units, send(client, Method::POST, r.url, r.body).await) })
        .buffer_unordered(inflight.max(1));
    while let Some((units, r)) = results.next().await {
        out.record(units, r);
    }
    watch.finish(out)
}

/// Runs one sequential writer per entry of `writers`, all at once, timing the whole set.
pub async fn writers(client: &Client, server_pid: u32, writers: Vec<Vec<Req>>) -> Outcome {
    let watch = Stopwatch::start(server_pid);
    let each = futures::future::join_all(writers.into_iter().map(|reqs| async move {
        let mut out = Outcome::default();
        for r in reqs {
            let t = Instant::now();
            let res = send(client, Method::POST, r.url, r.body).await;
            out.latencies.push(t.elapsed());
            out.record(r.units, res);
        }
        out
    }))
    .await;
    let mut out = Outcome::default();
    for o in each {
        out.merge(o);
    }
    watch.finish(out)
}

/// Runs `batch(n)` with growing `n` until one run lasts at least `min_secs` or `n` reaches
/// `cap`, and returns the last run with its `n`. Rates from runs under a second or two are
/// dominated by noise, so a fast server gets more work rather than a shorter measurement.
pub async fn grow_until<F, Fut>(
    initial: usize,
    cap: usize,
    min_secs: f64,
    mut batch: F,
) -> (usize, Outcome)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let mut n = initial.min(cap).max(1);
    loop {
        let out = batch(n).await;
        let secs = out.elapsed.as_secs_f64();
        if secs >= min_secs || n >= cap || out.errors > 0 {
            return (n, out);
        }
        let factor = (min_secs * 1.5 / secs.max(1e-3)).max(2.0);
        n = ((n as f64 * factor).ceil() as usize).min(cap);
    }
}
