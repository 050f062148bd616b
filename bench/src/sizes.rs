//! How much work each workload does, in the full run and in `--quick` smoke-test mode.
//!
//! mlflow is one to two orders of magnitude slower than mlplane, so the two get different
//! starting counts; results are reported as rates, never totals. Throughput workloads then
//! grow their count until one measurement lasts at least `min_secs` (see
//! `load::grow_until`), so a fast server is not timed over a few milliseconds.
//!
//! Invariants:
//! - payload sizes (`batch`, `history_points`, `artifact_mib`) are the same for both servers;
//!   only repetition counts differ.

/// Repetition counts that differ between the two servers.
#[derive(Debug, Clone, Copy)]
pub struct PerServer {
    /// Starting number of log-batch calls.
    pub log_batch_calls: usize,
    /// Starting number of runs to create.
    pub create_runs: usize,
    /// Starting number of log-batch calls per concurrent writer.
    pub writer_calls: usize,
}

#[derive(Debug, Clone)]
pub struct Sizes {
    /// Metrics per log-batch call.
    pub batch: usize,
    /// Requests in flight for log-batch, create-run and history ingestion.
    pub inflight: usize,
    /// Concurrent writers, each logging to its own run.
    pub writers: usize,
    /// Points in the metric whose history is fetched.
    pub history_points: usize,
    /// Points asked for in the downsampled history.
    pub sampled_points: usize,
    /// Size of the artifact uploaded and downloaded.
    pub artifact_mib: usize,
    /// Repetitions of timed fetches (the median is reported).
    pub reps: usize,
    /// Repetitions of each artifact transfer, and of the local copy timed beside each one
    /// (the median is reported).
    pub artifact_reps: usize,
    /// A throughput measurement shorter than this is repeated with more work.
    pub min_secs: f64,
    /// Runs seeded for the search workload.
    pub search_runs: usize,
    /// Timed repetitions of the search (the median is reported).
    pub search_reps: usize,
    /// Upper bound on any starting count after growth.
    pub growth_cap: usize,
    pub mlplane: PerServer,
    pub mlflow: PerServer,
}

impl Sizes {
    pub fn full(inflight: usize) -> Self {
        Self {
            batch: 1000,
            inflight,
            writers: 16,
            history_points: 100_000,
            sampled_points: 1000,
            artifact_mib: 100,
            reps: 3,
            artifact_reps: 5,
            search_runs: 5000,
            search_reps: 9,
            min_secs: 2.0,
            growth_cap: 20_000,
            mlplane: PerServer {
                log_batch_calls: 300,
                create_runs: 2000,
                writer_calls: 40,
            },
            mlflow: PerServer {
                log_batch_calls: 60,
                create_runs: 200,
                writer_calls: 3,
            },
        }
    }

    pub fn quick(inflight: usize) -> Self {
        Self {
            history_points: 10_000,
            artifact_mib: 10,
            reps: 1,
            artifact_reps: 1,
            search_runs: 200,
            search_reps: 3,
            min_secs: 0.0,
            mlplane: PerServer {
                log_batch_calls: 30,
                create_runs: 200,
                writer_calls: 4,
            },
            mlflow: PerServer {
                log_batch_calls: 5,
                create_runs: 20,
                writer_calls: 1,
            },
            ..Self::full(inflight)
        }
    }
}
