//! The jobs workload (`mlplane-bench --jobs`): mlplane alone, since `mlflow server` has no
//! jobs to compare with. Three measurements against one `mlplane server` with 2 job slots:
//!
//! 1. submit → process start: jobs submitted one at a time, each after the previous one
//!    completed, with an environment that is already built. Each job's command is
//!    `date +%s%N > <file>`, so the process records its own start on the realtime clock;
//!    the bench compares it with the realtime clock read just before sending the submit
//!    request. p50 and p99.
//! 2. many short jobs through 2 slots: N jobs of the same short command submitted at once;
//!    wall time from the first submit to the last job seen terminal, compared with the
//!    same command run N times directly, one after another, with the same `/bin/sh -c`,
//!    environment `PATH` and working folder conventions.
//! 3. environment build: the first job of a fresh data directory builds its uv environment;
//!    the second job with the same environment reuses it. Both are submit → process start.
//!
//! Invariant: every timing comes from a process the job actually started (its own clock
//! reading or its observed end); a job that does not complete fails the workload.

use crate::server::{self, Server};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How many jobs each measurement uses.
pub struct JobSizes {
    pub latency_jobs: usize,
    pub batch_jobs: usize,
}

impl JobSizes {
    pub fn new(quick: bool) -> Self {
        if quick {
            JobSizes {
                latency_jobs: 10,
                batch_jobs: 20,
            }
        } else {
            JobSizes {
                latency_jobs: 60,
                batch_jobs: 200,
            }
        }
    }
}

/// The short job of the batch measurement: a Python start plus 50 ms of sleep.
const SHORT_COMMAND: &str = "python -c 'import time; time.sleep(0.05)'";
/// The environment every job uses: one small package, so the first build downloads and
/// installs something real.
fn environment() -> Value {
    json!({"pip": ["six==1.17.0"]})
}

struct Ctx {
    client: reqwest::Client,
    api: String,
    marks: PathBuf,
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

impl Ctx {
    async fn submit(&self, command: &str) -> Result<String> {
        let resp = self
            .client
            .post(format!("{}/jobs", self.api))
            .json(&json!({
                "command": command,
                "environment": environment(),
                "experiment_name": "bench-jobs",
            }))
            .send()
            .await
            .context("submit a job")?;
        let status = resp.status();
        let body: Value = resp.json().await.context("submit answer")?;
        if !status.is_success() {
            bail!("submit answered {status}: {body}");
        }
        body["name"]
            .as_str()
            .map(str::to_string)
            .context("job name in the submit answer")
    }

    async fn status(&self, name: &str) -> Result<Value> {
        let resp = self
            .client
            .get(format!("{}/jobs/{name}", self.api))
            .send()
            .await?;
        Ok(resp.json().await?)
    }

    /// Waits until the job is terminal; fails unless it completed.
    async fn completed(&self, name: &str) -> Result<()> {
        let start = Instant::now();
        loop {
            let j = self.status(name).await?;
            match j["status"].as_str().unwrap_or("") {
                "Completed" => return Ok(()),
                "Failed" | "Canceled" => bail!("job {name} did not complete: {j}"),
                _ => {}
            }
            if start.elapsed() > Duration::from_secs(900) {
                bail!("job {name} still not done after 900 s: {j}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Submits a job that writes its start time, waits for it, returns submit → start.
    async fn timed_start(&self, tag: &str, extra: &str) -> Result<Duration> {
        let mark = self.marks.join(tag);
        let cmd = format!("date +%s%N > {}{extra}", mark.display());
        let sent = now_ns();
        let name = self.submit(&cmd).await?;
        self.completed(&name).await?;
        let started: u128 = std::fs::read_to_string(&mark)
            .with_context(|| format!("read {}", mark.display()))?
            .trim()
            .parse()
            .context("the job's start time")?;
        Ok(Duration::from_nanos(
            u64::try_from(started.saturating_sub(sent)).unwrap_or(u64::MAX),
        ))
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Runs the jobs workload and writes markdown to `out`.
pub async fn run(
    bin: &Path,
    work: &Path,
    client: &reqwest::Client,
    quick: bool,
    uv: Option<&Path>,
    header: &[(String, String)],
    out: &Path,
) -> Result<()> {
    let sizes = JobSizes::new(quick);
    let dir = work.join("mlplane-jobs");
    let marks = work.join("job-marks");
    std::fs::create_dir_all(&dir)?;
    std::fs::create_dir_all(&marks)?;
    let port = server::free_port()?;
    let mut cmd = Command::new(bin);
    cmd.arg("server")
        .arg("--port")
        .arg(port.to_string())
        .arg("--data-dir")
        .arg(&dir)
        .args(["--job-slots", "2"]);
    if let Some(uv) = uv {
        cmd.env("MLPLANE_UV", uv);
    }
    let mut srv = Server::spawn("mlplane", cmd, &work.join("mlplane-jobs.log"))?;
    srv.wait_ready(
        client,
        &format!("http://127.0.0.1:{port}/readyz"),
        Duration::from_secs(60),
    )
    .await?;
    let ctx = Ctx {
        client: client.clone(),
        api: format!("http://127.0.0.1:{port}/api/v1/workspaces/default"),
        marks: marks.clone(),
    };
    let result = measure(&ctx, &sizes, &marks).await;
    let stopped = srv.stop().await;
    let m = result.with_context(|| format!("server log tail:\n{}", srv.log_tail()))?;
    stopped?;

    let mut md = String::new();
    writeln!(md, "# mlplane jobs benchmark\n")?;
    for (k, v) in header {
        writeln!(md, "- {k}: {v}")?;
    }
    writeln!(md)?;
    writeln!(md, "| measurement | result | goal |")?;
    writeln!(md, "|---|---|---|")?;
    writeln!(
        md,
        "| submit → process start, cached environment ({} jobs, one at a time) | p50 {}, p99 {} (min {}, max {}) | p50 < 100 ms |",
        m.latency.len(),
        ms(percentile(&m.latency, 50.0)),
        ms(percentile(&m.latency, 99.0)),
        ms(percentile(&m.latency, 0.0)),
        ms(percentile(&m.latency, 100.0)),
    )?;
    writeln!(
        md,
        "| {} short jobs through 2 slots: wall time vs the same commands run directly one after another | {:.2} s vs {:.2} s = {:.2}× | ≤ 1.2× |",
        sizes.batch_jobs,
        m.batch_wall.as_secs_f64(),
        m.direct_sum.as_secs_f64(),
        m.batch_wall.as_secs_f64() / m.direct_sum.as_secs_f64().max(1e-9),
    )?;
    writeln!(
        md,
        "| environment: first job (uv build) vs second job (reused), submit → process start | {} vs {} | second start without a build |",
        ms(m.first_build),
        ms(m.second_start),
    )?;
    writeln!(md)?;
    writeln!(
        md,
        "Short job: `{SHORT_COMMAND}`; environment `pip: [six==1.17.0]`; server on SQLite, `--job-slots 2`. \
         The batch's wall time runs from the first submit to the last job seen `Completed` (status polled every 5 ms); \
         the direct runs use the job environment's `bin` first on `PATH`, `/bin/sh -c`, one after another."
    )?;
    std::fs::write(out, &md).with_context(|| format!("write {}", out.display()))?;
    print!("{md}");
    Ok(())
}

struct Measured {
    latency: Vec<Duration>,
    batch_wall: Duration,
    direct_sum: Duration,
    first_build: Duration,
    second_start: Duration,
}

async fn measure(ctx: &Ctx, sizes: &JobSizes, marks: &Path) -> Result<Measured> {
    let venv_file = marks.join("venv");
    eprintln!("bench: jobs: first job (builds the environment)");
    let first_build = ctx
        .timed_start(
            "first",
            &format!(" && echo \"$VIRTUAL_ENV\" > {}", venv_file.display()),
        )
        .await?;
    let second_start = ctx.timed_start("second", "").await?;
    eprintln!("bench: jobs: {} jobs one at a time", sizes.latency_jobs);
    let mut latency = Vec::with_capacity(sizes.latency_jobs);
    for i in 0..sizes.latency_jobs {
        latency.push(ctx.timed_start(&format!("lat-{i}"), "").await?);
    }
    latency.sort();

    eprintln!(
        "bench: jobs: {} short jobs through 2 slots",
        sizes.batch_jobs
    );
    let started = Instant::now();
    let mut names = Vec::with_capacity(sizes.batch_jobs);
    for _ in 0..sizes.batch_jobs {
        names.push(ctx.submit(SHORT_COMMAND).await?);
    }
    // Jobs end roughly in submission order; waiting in order sees each end once.
    for n in &names {
        ctx.completed(n).await?;
    }
    let batch_wall = started.elapsed();

    let venv = std::fs::read_to_string(&venv_file).context("the environment's folder")?;
    let venv = PathBuf::from(venv.trim());
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    );
    let direct_dir = marks.join("direct");
    std::fs::create_dir_all(&direct_dir)?;
    eprintln!(
        "bench: jobs: the same command {} times directly",
        sizes.batch_jobs
    );
    let started = Instant::now();
    for _ in 0..sizes.batch_jobs {
        let st = Command::new("/bin/sh")
            .arg("-c")
            .arg(SHORT_COMMAND)
            .current_dir(&direct_dir)
            .env_clear()
            .env("PATH", &path)
            .env("VIRTUAL_ENV", &venv)
            .status()
            .context("run the short command directly")?;
        if !st.success() {
            bail!("the short command failed when run directly: {st}");
        }
    }
    let direct_sum = started.elapsed();
    Ok(Measured {
        latency,
        batch_wall,
        direct_sum,
        first_build,
        second_start,
    })
}
