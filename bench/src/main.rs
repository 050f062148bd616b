//! `mlplane-bench`: runs the same workloads against mlplane and against `mlflow server`
//! (SQLite backend) side by side, prints a comparison table and writes it as markdown.
//!
//! The bench starts and stops both servers itself: mlplane once, mlflow once with its
//! default workers (every workload) and once with `--workers 1` (create-run only, which is
//! mlflow's faster configuration there). `bench/run.sh` builds the binaries and the mlflow
//! venv and then calls this program; see `bench/README.md`.
//!
//! Invariants:
//! - only one server runs at a time, and the load generator runs on a single thread, so
//!   the server under test has the rest of the machine;
//! - a server that fails to start or a workload that fails is reported as `n/a` with its
//!   error; the other measurements still run.

mod api;
mod jobs;
mod load;
mod procfs;
mod report;
mod search;
mod server;
mod sizes;
mod workloads;

use anyhow::{Context, Result};
use api::{Api, Dialect};
use clap::Parser;
use report::{Measure, Report, Side};
use server::Server;
use sizes::{PerServer, Sizes};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use workloads::{Blob, Ctx};

#[derive(Parser, Debug)]
#[command(
    about = "Benchmark mlplane against mlflow server, side by side",
    args_override_self = true
)]
struct Args {
    /// The mlplane release binary.
    #[arg(long, default_value = "target/release/mlplane")]
    mlplane_bin: PathBuf,
    /// The `mlflow` executable of the bench venv.
    #[arg(long, default_value = ".cache/bench-venv/bin/mlflow")]
    mlflow_bin: PathBuf,
    /// Smaller sizes, for a smoke test.
    #[arg(long)]
    quick: bool,
    /// Requests in flight for log-batch, create-run and history ingestion.
    #[arg(long, default_value_t = 4)]
    inflight: usize,
    /// Scratch directory for server data and test files; emptied at start.
    #[arg(long, default_value = ".cache/bench-work")]
    work_dir: PathBuf,
    /// Keep the scratch directory after the run.
    #[arg(long)]
    keep_work_dir: bool,
    /// Where to write the markdown results.
    #[arg(long, default_value = "bench/results.md")]
    out: PathBuf,
    #[arg(long)]
    skip_mlplane: bool,
    /// How the bench talks to mlplane: `mlflow` (the same MLflow REST calls as to mlflow
    /// server) or `native` (mlplane's `/api/v1`; no search workload).
    #[arg(long, default_value = "mlflow", value_parser = ["mlflow", "native"])]
    mlplane_protocol: String,
    #[arg(long)]
    skip_mlflow: bool,
    /// Run only the jobs workload (mlplane alone; needs uv) and write `--jobs-out`.
    #[arg(long)]
    jobs: bool,
    /// Where `--jobs` writes its markdown results.
    #[arg(long, default_value = "bench/results-jobs.md")]
    jobs_out: PathBuf,
    /// The uv binary jobs build environments with (default: the server's own lookup).
    #[arg(long, env = "MLPLANE_UV")]
    uv: Option<PathBuf>,
    /// Run only these workloads (comma-separated: create-run, log-batch, writers, history,
    /// search, artifacts); the others show as n/a. For quick iterations on one slow spot.
    #[arg(long, value_delimiter = ',', value_parser = WORKLOADS)]
    only: Vec<String>,
}

/// The workload names `--only` accepts.
const WORKLOADS: [&str; 6] = [
    "create-run",
    "log-batch",
    "writers",
    "history",
    "search",
    "artifacts",
];

/// `--only`, set once at start; empty means every workload.
static ONLY: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// Whether `--only` (if given) names workload `w`.
fn wanted(w: &str) -> bool {
    ONLY.get()
        .is_none_or(|only| only.is_empty() || only.iter().any(|o| o == w))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _ = ONLY.set(args.only.clone());
    // reqwest is built with rustls and no provider; the bench only speaks plain http, but
    // building a client still needs one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async {
        tokio::select! {
            r = run(args) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(mut args: Args) -> Result<()> {
    // Servers run with their data directory as working directory, so resolve binaries now.
    for bin in [&mut args.mlplane_bin, &mut args.mlflow_bin] {
        if let Ok(abs) = std::fs::canonicalize(&*bin) {
            *bin = abs;
        }
    }
    let sizes = if args.quick {
        Sizes::quick(args.inflight)
    } else {
        Sizes::full(args.inflight)
    };
    let work = &args.work_dir;
    if work.exists() {
        std::fs::remove_dir_all(work).with_context(|| format!("empty {}", work.display()))?;
    }
    std::fs::create_dir_all(work)?;
    let work = std::fs::canonicalize(work)?;

    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(64)
        // uvicorn (mlflow's server) closes keep-alive connections idle for 5 s; a pooled
        // connection reused just as it closes fails with a broken pipe (seen after the
        // local copies timed between artifact transfers), so idle ones are dropped sooner.
        .pool_idle_timeout(Duration::from_secs(4))
        .timeout(Duration::from_secs(600))
        .build()
        .context("build the HTTP client")?;

    let machine = procfs::MachineInfo::read();
    let load_start = procfs::load_average();
    let mlplane_version = server::command_line_output(&args.mlplane_bin, &["--version"]);
    let mlflow_version = server::command_line_output(&args.mlflow_bin, &["--version"]);
    let mut header = vec![
        (
            "date".into(),
            shell_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        ),
        (
            "machine".into(),
            format!(
                "{} CPUs ({}), {:.1} GiB RAM, Linux {}",
                machine.nproc, machine.cpu_model, machine.mem_gib, machine.kernel
            ),
        ),
        (
            "mlplane".into(),
            format!(
                "{mlplane_version} (commit {}), driven through its {} API",
                shell_line("git", &["rev-parse", "--short", "HEAD"]),
                if args.mlplane_protocol == "native" {
                    "native /api/v1"
                } else {
                    "MLflow REST"
                }
            ),
        ),
        (
            "mlflow".into(),
            format!("{mlflow_version}, SQLite backend, proxied artifacts"),
        ),
        (
            "bench".into(),
            format!(
                "{}; single-threaded tokio + reqwest load generator on the same machine",
                if args.quick {
                    "quick mode"
                } else {
                    "full mode"
                }
            ),
        ),
    ];
    for (k, v) in &header {
        eprintln!("bench: {k}: {v}");
    }
    if args.jobs {
        header.retain(|(k, _)| k == "date" || k == "machine");
        header.push((
            "mlplane".into(),
            format!(
                "{mlplane_version} (commit {}), native /api/v1, SQLite, 2 job slots",
                shell_line("git", &["rev-parse", "--short", "HEAD"])
            ),
        ));
        header.push((
            "load".into(),
            format!("{} at start", procfs::load_average()),
        ));
        return jobs::run(
            &args.mlplane_bin,
            &work,
            &client,
            args.quick,
            args.uv.as_deref(),
            &header,
            &args.jobs_out,
        )
        .await;
    }

    eprintln!("bench: writing a {} MiB random file", sizes.artifact_mib);
    let blob = Blob::create(&work.join("blob.bin"), sizes.artifact_mib)?;

    let mut mlplane = Side::default();
    if !args.skip_mlplane {
        let dir = work.join("mlplane");
        std::fs::create_dir_all(&dir)?;
        let port = server::free_port()?;
        let mut cmd = Command::new(&args.mlplane_bin);
        cmd.arg("server")
            .arg("--port")
            .arg(port.to_string())
            .arg("--data-dir")
            .arg(&dir);
        let api = if args.mlplane_protocol == "native" {
            Api::new(Dialect::Mlplane, client.clone(), port)
        } else {
            Api::mlflow_on_mlplane(client.clone(), port)
        };
        run_side(
            "mlplane",
            cmd,
            &dir,
            &api,
            &sizes,
            sizes.mlplane,
            &blob,
            &work,
            true,
            &mut mlplane,
        )
        .await;
    }

    let mut mlflow = Side::default();
    let mut mlflow_w1 = Side::default();
    if !args.skip_mlflow {
        for (workers, side, all) in [(None, &mut mlflow, true), (Some(1), &mut mlflow_w1, false)] {
            // The `--workers 1` server only measures create-run.
            if workers.is_some() && !wanted("create-run") {
                continue;
            }
            let name = if workers.is_some() {
                "mlflow --workers 1"
            } else {
                "mlflow"
            };
            let dir = work.join(if workers.is_some() {
                "mlflow-w1"
            } else {
                "mlflow"
            });
            std::fs::create_dir_all(&dir)?;
            let port = server::free_port()?;
            let mut cmd = Command::new(&args.mlflow_bin);
            cmd.arg("server")
                .arg("--backend-store-uri")
                .arg(format!("sqlite:///{}", dir.join("mlflow.db").display()))
                .arg("--artifacts-destination")
                .arg(dir.join("mlartifacts"))
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .current_dir(&dir);
            if let Some(w) = workers {
                cmd.args(["--workers", &w.to_string()]);
            }
            let api = Api::new(Dialect::Mlflow, client.clone(), port);
            run_side(
                name,
                cmd,
                &dir,
                &api,
                &sizes,
                sizes.mlflow,
                &blob,
                &work,
                all,
                side,
            )
            .await;
        }
    }

    header.push((
        "load average (1/5/15 min) at start, at end".into(),
        format!("{load_start}; {}", procfs::load_average()),
    ));
    let report = Report {
        header,
        sizes,
        quick: args.quick,
        mlplane,
        mlflow,
        mlflow_w1,
    };
    println!("\n{}", report.text_table());
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, report.markdown())
        .with_context(|| format!("write {}", args.out.display()))?;
    eprintln!("bench: wrote {}", args.out.display());
    if !args.keep_work_dir {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(())
}

/// Starts one server, measures it, stops it. With `all` false only create-run runs.
#[allow(clippy::too_many_arguments)]
async fn run_side(
    name: &str,
    cmd: Command,
    dir: &Path,
    api: &Api,
    sizes: &Sizes,
    per: PerServer,
    blob: &Blob,
    work: &Path,
    all: bool,
    side: &mut Side,
) {
    eprintln!("bench: starting {name}");
    let mut srv = match Server::spawn(name, cmd, &dir.join("server.log")) {
        Ok(s) => s,
        Err(e) => {
            side.failure = Some(format!("{e:#}"));
            eprintln!("bench: {name}: {e:#}");
            return;
        }
    };
    if let Err(e) = measure(&mut srv, name, api, sizes, per, blob, work, all, side).await {
        eprintln!("bench: {name}: {e:#}");
        side.failure = Some(format!("{e:#}"));
    }
    eprintln!("bench: stopping {name}");
    if let Err(e) = srv.stop().await {
        eprintln!("bench: stopping {name}: {e:#}");
    }
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    srv: &mut Server,
    name: &str,
    api: &Api,
    sizes: &Sizes,
    per: PerServer,
    blob: &Blob,
    work: &Path,
    all: bool,
    side: &mut Side,
) -> Result<()> {
    let startup = srv
        .wait_ready(&api.client, &api.health_url(), Duration::from_secs(180))
        .await?;
    side.startup = Some(startup);
    // Let forked workers finish importing before calling the server idle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pid = srv.pid();
    side.rss_idle = Some(procfs::tree_rss_bytes(pid));
    eprintln!(
        "bench: {name} ready after {:.1} s, idle RSS {} MiB",
        startup.as_secs_f64(),
        side.rss_idle.unwrap_or(0) >> 20
    );

    let experiment_id = api
        .create_experiment(&format!("bench-{}", api::now_ms()))
        .await?;
    let ctx = Ctx {
        api,
        server_pid: pid,
        experiment_id,
        sizes,
        per,
    };
    workloads::warm_up(&ctx).await?;

    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(procfs::tree_rss_bytes(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    if wanted("create-run") {
        side.create_run = Some(
            workloads::create_run(&ctx)
                .await
                .map_err(|e| format!("{e:#}")),
        );
        progress(name, "create-run", &side.create_run, "runs");
        side.rss_after
            .push(("create-run", procfs::tree_rss_bytes(pid)));
    }
    if all && wanted("log-batch") {
        side.log_batch = Some(
            workloads::log_batch(&ctx)
                .await
                .map_err(|e| format!("{e:#}")),
        );
        progress(name, "log-batch", &side.log_batch, "points");
        side.rss_after
            .push(("log-batch", procfs::tree_rss_bytes(pid)));
    }
    if all && wanted("writers") {
        side.writers = Some(
            workloads::concurrent_writers(&ctx)
                .await
                .map_err(|e| format!("{e:#}")),
        );
        progress(name, "writers", &side.writers, "points");
        side.rss_after
            .push(("writers", procfs::tree_rss_bytes(pid)));
    }
    if all && wanted("history") {
        let h = workloads::history(&ctx).await.map_err(|e| format!("{e:#}"));
        match &h {
            Ok(h) => eprintln!(
                "bench: {name}: history full {:.3} s, downsampled {}",
                h.full.median.as_secs_f64(),
                h.sampled.as_ref().map_or_else(
                    |e| format!("n/a ({e})"),
                    |t| format!("{:.3} s", t.median.as_secs_f64())
                )
            ),
            Err(e) => eprintln!("bench: {name}: history failed: {e}"),
        }
        side.history = Some(h);
        side.rss_after
            .push(("history", procfs::tree_rss_bytes(pid)));
    }
    if all && wanted("search") && api.dialect == Dialect::Mlflow {
        let r = search::search(&ctx).await.map_err(|e| format!("{e:#}"));
        match &r {
            Ok(r) => eprintln!(
                "bench: {name}: search over {} runs: {} matched, median {:.1} ms",
                r.seeded,
                r.matched,
                r.timed.median.as_secs_f64() * 1000.0
            ),
            Err(e) => eprintln!("bench: {name}: search failed: {e}"),
        }
        side.search = Some(r);
        side.rss_after.push(("search", procfs::tree_rss_bytes(pid)));
    }
    if all && wanted("artifacts") {
        let a = workloads::artifacts(&ctx, blob, work, ctx.sizes.artifact_reps)
            .await
            .map_err(|e| format!("{e:#}"));
        match &a {
            Ok(a) => eprintln!(
                "bench: {name}: artifacts up {:.0} MiB/s (local copy + fsync {:.0}, raw TCP + fsync {:.0}), down {:.0} MiB/s (local copy {:.0}, raw TCP {:.0})",
                a.upload.mib_per_sec(),
                a.copy.fsync.mib_per_sec(),
                a.copy.tcp_fsync.mib_per_sec(),
                a.download.mib_per_sec(),
                a.copy.plain.mib_per_sec(),
                a.copy.tcp_plain.mib_per_sec()
            ),
            Err(e) => eprintln!("bench: {name}: artifacts failed: {e}"),
        }
        side.artifacts = Some(a);
        side.rss_after
            .push(("artifacts", procfs::tree_rss_bytes(pid)));
    }
    sampler.abort();
    side.rss_peak = Some(
        peak.load(Ordering::Relaxed)
            .max(procfs::tree_rss_bytes(pid)),
    );
    Ok(())
}

fn progress(name: &str, workload: &str, m: &Measure<load::Outcome>, unit: &str) {
    match m {
        Some(Ok(o)) => eprintln!(
            "bench: {name}: {workload} {} {unit}/s ({} requests, {} errors, {:.2} s)",
            report::num(o.rate()),
            o.requests,
            o.errors,
            o.elapsed.as_secs_f64()
        ),
        Some(Err(e)) => eprintln!("bench: {name}: {workload} failed: {e}"),
        None => {}
    }
}

/// First line of a helper command's output, or "unknown".
fn shell_line(program: &str, args: &[&str]) -> String {
    server::command_line_output(Path::new(program), args)
}
