//! The search workload: seed an experiment with runs that carry a metric, params and a
//! tag, then time `runs/search` with a metric + param filter and an ordering, the query an
//! MLflow user runs to pick the best runs.
//!
//! Invariants:
//! - both servers get the same runs (same seed, same values) and the same search, so they
//!   must return the same number of runs; a mismatch fails the workload;
//! - seeding and one warm-up search are untimed; each timed repetition is one whole search
//!   request and response.

use crate::api::{Point, now_ms};
use crate::load::{self, Req, Stopwatch};
use crate::workloads::{Ctx, Mix, Timed, timed_get_post};
use anyhow::{Context, Result, bail};
use futures::StreamExt;
use serde::Deserialize;
use serde::de::IgnoredAny;

/// The filter and ordering timed.
pub const FILTER: &str = "metrics.acc > 0.5 and params.lr = '0.01'";
pub const ORDER_BY: &[&str] = &["metrics.acc DESC"];
/// Page size of the timed search (the MLflow client's default).
pub const MAX_RESULTS: usize = 1000;
const LRS: [&str; 4] = ["0.1", "0.01", "0.001", "0.0001"];

pub struct SearchResult {
    pub seeded: usize,
    pub matched: usize,
    pub timed: Timed,
}

#[derive(Deserialize)]
struct SearchPage {
    #[serde(default)]
    runs: Vec<IgnoredAny>,
}

pub async fn search(ctx: &Ctx<'_>) -> Result<SearchResult> {
    let n = ctx.sizes.search_runs;
    let api = ctx.api;
    let exp = api
        .create_experiment(&format!("search-{}", now_ms()))
        .await?;
    let ids: Vec<String> = futures::stream::iter(0..n)
        .map(|_| api.create_run(&exp))
        .buffered(ctx.sizes.inflight.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()
        .context("seeding runs")?;
    let mut rng = Mix(42);
    let t0 = now_ms();
    let reqs: Vec<Req> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let metrics = [
                Point {
                    key: "acc",
                    value: rng.unit(),
                    timestamp: t0,
                    step: 0,
                },
                Point {
                    key: "loss",
                    value: rng.unit(),
                    timestamp: t0,
                    step: 0,
                },
            ];
            let params = [
                ("lr", LRS[i % LRS.len()].to_string()),
                ("opt", if i % 3 == 0 { "sgd" } else { "adam" }.to_string()),
                ("layers", (i % 7).to_string()),
            ];
            let (url, body) = api.log_run_data_request(id, &metrics, &params);
            Req {
                url,
                body,
                units: 1,
            }
        })
        .collect();
    let out = load::pipelined(&api.client, ctx.server_pid, reqs, ctx.sizes.inflight).await;
    if let Some(e) = out.first_error {
        bail!("seeding run data failed ({} errors): {e}", out.errors);
    }
    let (url, body) = api
        .search_runs_request(&exp, FILTER, ORDER_BY, MAX_RESULTS)
        .context("runs/search needs the MLflow protocol")?;
    // One untimed search first, on both servers: the first request of a query shape pays
    // for compiling it (SQL statements, ORM query objects) and for warming caches.
    timed_get_post(api, url.clone(), Some(body.clone()))
        .await
        .context("warm-up search")?;
    let mut times = Vec::new();
    let mut matched = None;
    let watch = Stopwatch::start(ctx.server_pid);
    for _ in 0..ctx.sizes.search_reps {
        let (t, resp) = timed_get_post(api, url.clone(), Some(body.clone())).await?;
        let page: SearchPage =
            serde_json::from_slice(&resp).context("search response is not JSON")?;
        match matched {
            Some(m) if m != page.runs.len() => {
                bail!("search returned {} runs, earlier {m}", page.runs.len())
            }
            _ => matched = Some(page.runs.len()),
        }
        times.push(t);
    }
    let cpu = watch.finish(load::Outcome::default());
    let matched = matched.unwrap_or(0);
    if matched == 0 {
        bail!("search matched no run");
    }
    Ok(SearchResult {
        seeded: n,
        matched,
        timed: Timed::from(times, matched as u64, cpu.server_cpu, cpu.bench_cpu),
    })
}
