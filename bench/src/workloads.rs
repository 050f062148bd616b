//! The workloads, each written once against `Api` and run against both servers:
//! log-batch, create-run, concurrent writers, metric history (full and downsampled) and
//! artifact transfer, plus the plain local copy that artifact speed is compared with.
//!
//! Invariants:
//! - each throughput workload logs into fresh runs, so earlier workloads never change the
//!   size of what a later one reads;
//! - points are unique per run (distinct key/step pairs), so neither server can take a
//!   shortcut on duplicates;
//! - a fetch counts only if it returned every expected point, and a download only if its
//!   sha256 equals the uploaded file's; checks happen outside the timed sections.

use crate::api::{Api, Point, now_ms};
use crate::load::{self, Outcome, Req, Stopwatch};
use crate::sizes::{PerServer, Sizes};
use anyhow::{Context, Result, bail};
use bytes::{Bytes, BytesMut};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde::de::IgnoredAny;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Metric keys of the throughput workloads; a batch cycles through them.
const KEYS: [&str; 10] = [
    "loss",
    "accuracy",
    "lr",
    "grad_norm",
    "val_loss",
    "val_accuracy",
    "throughput",
    "epoch",
    "gpu_util",
    "mem_used",
];
/// The metric whose history is fetched.
const HISTORY_KEY: &str = "history_loss";

/// A server under test, ready for workloads.
pub struct Ctx<'a> {
    pub api: &'a Api,
    pub server_pid: u32,
    pub experiment_id: String,
    pub sizes: &'a Sizes,
    pub per: PerServer,
}

/// A deterministic, cheap stream of pseudo-random numbers (splitmix64).
pub(crate) struct Mix(pub(crate) u64);

impl Mix {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `calls` log-batch requests of `batch` points each into `run_id`; the points cycle
/// through `KEYS`, one step per full cycle.
fn batches(api: &Api, run_id: &str, calls: usize, batch: usize, seed: u64) -> Vec<Req> {
    let mut rng = Mix(seed);
    let t0 = now_ms();
    let mut i: i64 = 0;
    (0..calls)
        .map(|_| {
            let points: Vec<Point> = (0..batch)
                .map(|_| {
                    let step = i / KEYS.len() as i64;
                    let p = Point {
                        key: KEYS[i as usize % KEYS.len()],
                        value: rng.unit(),
                        timestamp: t0 + step,
                        step,
                    };
                    i += 1;
                    p
                })
                .collect();
            let (url, body) = api.log_batch_request(run_id, &points);
            Req {
                url,
                body,
                units: batch as u64,
            }
        })
        .collect()
}

/// Untimed requests that make every server worker import, connect and cache what it needs.
pub async fn warm_up(ctx: &Ctx<'_>) -> Result<()> {
    let run = ctx.api.create_run(&ctx.experiment_id).await?;
    let (url, body) = ctx.api.create_run_request(&ctx.experiment_id);
    let runs = vec![
        Req {
            url,
            body,
            units: 1
        };
        16
    ];
    let out = load::pipelined(&ctx.api.client, ctx.server_pid, runs, 8).await;
    let logs = batches(ctx.api, &run, 16, 100, 1);
    let out2 = load::pipelined(&ctx.api.client, ctx.server_pid, logs, 8).await;
    let url = ctx.api.history_url(&run, KEYS[0], 1000, None);
    load::send(&ctx.api.client, Method::GET, url, Bytes::new())
        .await
        .map_err(anyhow::Error::msg)
        .context("warm-up history")?;
    if let Some(e) = out.first_error.or(out2.first_error) {
        bail!("warm-up failed: {e}");
    }
    Ok(())
}

/// Log-batch throughput into one run, `inflight` requests at a time.
pub async fn log_batch(ctx: &Ctx<'_>) -> Result<Outcome> {
    let mut seed = 10;
    let (_, out) = load::grow_until(
        ctx.per.log_batch_calls,
        ctx.sizes.growth_cap,
        ctx.sizes.min_secs,
        |n| {
            seed += 1;
            let s = seed;
            async move {
                let run = match ctx.api.create_run(&ctx.experiment_id).await {
                    Ok(r) => r,
                    Err(e) => return failed(e),
                };
                let reqs = batches(ctx.api, &run, n, ctx.sizes.batch, s);
                load::pipelined(&ctx.api.client, ctx.server_pid, reqs, ctx.sizes.inflight).await
            }
        },
    )
    .await;
    Ok(out)
}

/// Create-run throughput, `inflight` requests at a time.
pub async fn create_run(ctx: &Ctx<'_>) -> Result<Outcome> {
    let (url, body) = ctx.api.create_run_request(&ctx.experiment_id);
    let one = Req {
        url,
        body,
        units: 1,
    };
    let (_, out) = load::grow_until(
        ctx.per.create_runs,
        ctx.sizes.growth_cap,
        ctx.sizes.min_secs,
        |n| {
            let reqs = vec![one.clone(); n];
            load::pipelined(&ctx.api.client, ctx.server_pid, reqs, ctx.sizes.inflight)
        },
    )
    .await;
    Ok(out)
}

/// `sizes.writers` concurrent writers, each logging full batches into its own run.
pub async fn concurrent_writers(ctx: &Ctx<'_>) -> Result<Outcome> {
    let mut round = 0u64;
    let (_, out) = load::grow_until(
        ctx.per.writer_calls,
        ctx.sizes.growth_cap,
        ctx.sizes.min_secs,
        |n| {
            round += 1;
            let r = round;
            async move {
                let mut all = Vec::new();
                for w in 0..ctx.sizes.writers {
                    let run = match ctx.api.create_run(&ctx.experiment_id).await {
                        Ok(r) => r,
                        Err(e) => return failed(e),
                    };
                    all.push(batches(
                        ctx.api,
                        &run,
                        n,
                        ctx.sizes.batch,
                        1000 * r + w as u64,
                    ));
                }
                load::writers(&ctx.api.client, ctx.server_pid, all).await
            }
        },
    )
    .await;
    Ok(out)
}

/// An `Outcome` standing for a batch that could not even be set up.
fn failed(e: anyhow::Error) -> Outcome {
    Outcome {
        errors: 1,
        requests: 1,
        first_error: Some(format!("{e:#}")),
        elapsed: Duration::from_millis(1),
        ..Outcome::default()
    }
}

/// Median and spread of repeated timings.
#[derive(Debug, Clone)]
pub struct Timed {
    pub median: Duration,
    pub all: Vec<Duration>,
    /// Points returned or bytes moved by one repetition.
    pub amount: u64,
    pub server_cpu: f64,
    pub bench_cpu: f64,
}

impl Timed {
    pub(crate) fn from(
        mut all: Vec<Duration>,
        amount: u64,
        server_cpu: f64,
        bench_cpu: f64,
    ) -> Self {
        let mut sorted = all.clone();
        sorted.sort();
        let median = sorted[sorted.len() / 2];
        all.shrink_to_fit();
        Self {
            median,
            all,
            amount,
            server_cpu,
            bench_cpu,
        }
    }

    /// MiB per second at the median time.
    pub fn mib_per_sec(&self) -> f64 {
        self.amount as f64 / (1024.0 * 1024.0) / self.median.as_secs_f64().max(1e-9)
    }
}

pub struct HistoryResult {
    /// Logging the history (batches of `sizes.batch`, `inflight` at a time).
    pub ingest: Outcome,
    pub full: Timed,
    /// Downsampled fetch, or why it is not available.
    pub sampled: Result<Timed, String>,
}

/// A page of history in either dialect; only the count of points is kept.
#[derive(Deserialize)]
struct HistoryPage {
    #[serde(default, alias = "metrics")]
    points: Vec<IgnoredAny>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// GETs `url`, returning the time until the whole body arrived, and the body.
pub(crate) async fn timed_get(api: &Api, url: Url) -> Result<(Duration, Bytes)> {
    timed_get_post(api, url, None).await
}

/// GETs `url` (or POSTs `body` to it), returning the time until the whole answer arrived,
/// and the answer.
pub(crate) async fn timed_get_post(
    api: &Api,
    url: Url,
    body: Option<Bytes>,
) -> Result<(Duration, Bytes)> {
    let start = Instant::now();
    let req = match body {
        Some(b) => api
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(b),
        None => api.client.get(url.clone()),
    };
    let resp = req.send().await.with_context(|| format!("{url}"))?;
    let status = resp.status();
    let body = resp.bytes().await?;
    let took = start.elapsed();
    if !status.is_success() {
        bail!(
            "{url}: HTTP {status}: {}",
            crate::api::clip(&String::from_utf8_lossy(&body))
        );
    }
    Ok((took, body))
}

/// Logs `history_points` points to one metric, then times full and downsampled fetches.
pub async fn history(ctx: &Ctx<'_>) -> Result<HistoryResult> {
    let n = ctx.sizes.history_points;
    let run = ctx.api.create_run(&ctx.experiment_id).await?;
    let t0 = now_ms();
    let mut rng = Mix(7);
    let reqs: Vec<Req> = (0..n.div_ceil(ctx.sizes.batch))
        .map(|b| {
            let lo = b * ctx.sizes.batch;
            let points: Vec<Point> = (lo..n.min(lo + ctx.sizes.batch))
                .map(|s| Point {
                    key: HISTORY_KEY,
                    value: rng.unit(),
                    timestamp: t0 + s as i64,
                    step: s as i64,
                })
                .collect();
            let units = points.len() as u64;
            let (url, body) = ctx.api.log_batch_request(&run, &points);
            Req { url, body, units }
        })
        .collect();
    let ingest = load::pipelined(&ctx.api.client, ctx.server_pid, reqs, ctx.sizes.inflight).await;
    if let Some(e) = &ingest.first_error {
        bail!("logging the history failed ({} errors): {e}", ingest.errors);
    }

    let mut times = Vec::new();
    let watch = Stopwatch::start(ctx.server_pid);
    for _ in 0..ctx.sizes.reps {
        let mut took = Duration::ZERO;
        let mut token: Option<String> = None;
        let mut got = 0usize;
        loop {
            let url = ctx.api.history_url(&run, HISTORY_KEY, n, token.as_deref());
            let (t, body) = timed_get(ctx.api, url).await?;
            took += t;
            let page: HistoryPage =
                serde_json::from_slice(&body).context("history page is not the expected JSON")?;
            got += page.points.len();
            token = page.next_page_token.filter(|t| !t.is_empty());
            if token.is_none() || page.points.is_empty() {
                break;
            }
        }
        if got != n {
            bail!("full history returned {got} points, expected {n}");
        }
        times.push(took);
    }
    let cpu = watch.finish(Outcome::default());
    let full = Timed::from(times, n as u64, cpu.server_cpu, cpu.bench_cpu);

    let sampled = sampled_history(ctx, &run)
        .await
        .map_err(|e| format!("{e:#}"));
    Ok(HistoryResult {
        ingest,
        full,
        sampled,
    })
}

async fn sampled_history(ctx: &Ctx<'_>, run: &str) -> Result<Timed> {
    let max = ctx.sizes.sampled_points;
    let mut times = Vec::new();
    let mut got = 0;
    let watch = Stopwatch::start(ctx.server_pid);
    for _ in 0..ctx.sizes.reps {
        let (t, body) = timed_get(ctx.api, ctx.api.sampled_url(run, HISTORY_KEY, max)).await?;
        let page: HistoryPage =
            serde_json::from_slice(&body).context("sampled history is not JSON")?;
        got = page.points.len();
        // A downsampler may keep the first and last point on top of `max` buckets.
        if got == 0 || got > max + 2 {
            bail!("downsampled history returned {got} points for max {max}");
        }
        times.push(t);
    }
    let cpu = watch.finish(Outcome::default());
    Ok(Timed::from(
        times,
        got as u64,
        cpu.server_cpu,
        cpu.bench_cpu,
    ))
}

/// A file of random bytes and its sha256.
pub struct Blob {
    pub path: PathBuf,
    pub len: u64,
    pub sha256: String,
}

impl Blob {
    /// Writes `mib` MiB of pseudo-random bytes to `path`.
    pub fn create(path: &Path, mib: usize) -> Result<Self> {
        let mut f =
            std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
        let mut rng = Mix(42);
        let mut hasher = Sha256::new();
        let mut chunk = vec![0u8; 1 << 20];
        for _ in 0..mib {
            for w in chunk.chunks_exact_mut(8) {
                w.copy_from_slice(&rng.next().to_le_bytes());
            }
            hasher.update(&chunk);
            f.write_all(&chunk)?;
        }
        f.sync_all()?;
        Ok(Self {
            path: path.to_path_buf(),
            len: (mib as u64) << 20,
            sha256: hex::encode(hasher.finalize()),
        })
    }
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Writes all dirty pages of the machine back to disk (`sync`), so each timed transfer
/// starts from the same writeback state instead of paying for earlier writers' data.
fn flush_dirty_pages() {
    let _ = std::process::Command::new("sync").status();
}

/// The file as a request body streamed in 256 KiB chunks (never held in memory whole).
fn file_body(path: &Path) -> Result<reqwest::Body> {
    const CHUNK: usize = 256 << 10;
    let f = std::fs::File::open(path)?;
    let stream = futures::stream::unfold(Some(f), |f| async move {
        let mut f = f?;
        let mut buf = BytesMut::zeroed(CHUNK);
        let mut filled = 0;
        while filled < CHUNK {
            match f.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) => return Some((Err(e), None)),
            }
        }
        if filled == 0 {
            return None;
        }
        buf.truncate(filled);
        Some((Ok(buf.freeze()), Some(f)))
    });
    Ok(reqwest::Body::wrap_stream(stream))
}

pub struct ArtifactResult {
    pub upload: Timed,
    pub download: Timed,
    /// The local copies timed alongside these transfers (see [`artifacts`]).
    pub copy: LocalCopy,
}

/// Uploads `blob` `reps` times and downloads it `reps` times, checking each download, and
/// times a local copy of the blob next to every transfer: a copy + fsync next to each upload
/// and a plain copy next to each download, alternating which of the two goes first.
///
/// The machine is shared, so its speed drifts within seconds; a copy timed right beside
/// each transfer sees the same conditions, where one measured before the servers start
/// would not. Every transfer and copy starts after a `sync`, and goes to a new file kept
/// until the workload ends (see [`copy_once`]).
pub async fn artifacts(
    ctx: &Ctx<'_>,
    blob: &Blob,
    scratch: &Path,
    reps: usize,
) -> Result<ArtifactResult> {
    let mut kept = Vec::new();
    let result = transfers(ctx, blob, scratch, reps, &mut kept).await;
    remove_all(&kept);
    result
}

async fn transfers(
    ctx: &Ctx<'_>,
    blob: &Blob,
    scratch: &Path,
    reps: usize,
    kept: &mut Vec<PathBuf>,
) -> Result<ArtifactResult> {
    let run = ctx.api.create_run(&ctx.experiment_id).await?;
    let (mut ups, mut up_cpu) = (Vec::new(), (0.0, 0.0));
    let mut synced = (Vec::new(), Vec::new());
    for i in 0..reps {
        let copy_first = i % 2 == 0;
        if copy_first {
            baselines(
                blob,
                scratch,
                &format!("fsync-{i}"),
                true,
                kept,
                &mut synced,
            )?;
        }
        let url = ctx
            .api
            .artifact_url(&ctx.experiment_id, &run, &format!("bench/blob-{i}.bin"));
        let body = file_body(&blob.path)?;
        flush_dirty_pages();
        let watch = Stopwatch::start(ctx.server_pid);
        let start = Instant::now();
        let resp = ctx
            .api
            .client
            .put(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, blob.len)
            .body(body)
            .send()
            .await
            .with_context(|| format!("PUT {url}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        ups.push(start.elapsed());
        let cpu = watch.finish(Outcome::default());
        up_cpu = (up_cpu.0 + cpu.server_cpu, up_cpu.1 + cpu.bench_cpu);
        if !status.is_success() {
            bail!("PUT {url}: HTTP {status}: {}", crate::api::clip(&text));
        }
        if !copy_first {
            baselines(
                blob,
                scratch,
                &format!("fsync-{i}"),
                true,
                kept,
                &mut synced,
            )?;
        }
    }
    let upload = Timed::from(ups, blob.len, up_cpu.0, up_cpu.1);

    let url = ctx
        .api
        .artifact_url(&ctx.experiment_id, &run, "bench/blob-0.bin");
    let (mut downs, mut down_cpu) = (Vec::new(), (0.0, 0.0));
    let mut plain = (Vec::new(), Vec::new());
    for i in 0..reps {
        let copy_first = i % 2 == 0;
        if copy_first {
            baselines(
                blob,
                scratch,
                &format!("plain-{i}"),
                false,
                kept,
                &mut plain,
            )?;
        }
        // Each download goes to a new file that is kept until all are done, like `cp` to a
        // new name and like the server's uploads (see `copy_once` for why it matters).
        let dest = scratch.join(format!("download-{i}.bin"));
        kept.push(dest.clone());
        flush_dirty_pages();
        let watch = Stopwatch::start(ctx.server_pid);
        let start = Instant::now();
        let mut resp = ctx.api.client.get(url.clone()).send().await?;
        if !resp.status().is_success() {
            bail!("GET {url}: HTTP {}", resp.status());
        }
        // Receiving and writing overlap, as in a client that streams to disk: the received
        // chunks go to a writer thread (a bounded queue, so memory stays small), which
        // gathers them into 1 MiB writes (`writev` of the received chunks, no copy into a
        // buffer), the write size of the local copy this is compared with.
        let writer = ChunkWriter::start(std::fs::File::create(&dest)?);
        let mut n = 0u64;
        while let Some(chunk) = resp.chunk().await? {
            n += chunk.len() as u64;
            writer.send(chunk)?;
        }
        writer.finish()?;
        downs.push(start.elapsed());
        let cpu = watch.finish(Outcome::default());
        down_cpu = (down_cpu.0 + cpu.server_cpu, down_cpu.1 + cpu.bench_cpu);
        if n != blob.len || sha256_file(&dest)? != blob.sha256 {
            bail!("downloaded artifact differs from the upload ({n} bytes)");
        }
        if !copy_first {
            baselines(
                blob,
                scratch,
                &format!("plain-{i}"),
                false,
                kept,
                &mut plain,
            )?;
        }
    }
    let download = Timed::from(downs, blob.len, down_cpu.0, down_cpu.1);
    Ok(ArtifactResult {
        upload,
        download,
        copy: LocalCopy {
            plain: Timed::from(plain.0, blob.len, 0.0, 0.0),
            fsync: Timed::from(synced.0, blob.len, 0.0, 0.0),
            tcp_plain: Timed::from(plain.1, blob.len, 0.0, 0.0),
            tcp_fsync: Timed::from(synced.1, blob.len, 0.0, 0.0),
        },
    })
}

/// Chunks queued between the receiving task and the writer thread of a download (network
/// chunks are up to a few hundred KiB, so this bounds the queue to a few MiB).
const QUEUED_CHUNKS: usize = 32;

/// A thread writing a download's chunks to its file while the next ones arrive.
struct ChunkWriter {
    tx: std::sync::mpsc::SyncSender<Bytes>,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
}

impl ChunkWriter {
    fn start(file: std::fs::File) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Bytes>(QUEUED_CHUNKS);
        let thread = std::thread::spawn(move || {
            let mut f = GatherWriter::new(file);
            for chunk in rx {
                f.push(chunk)?;
            }
            f.flush()
        });
        Self { tx, thread }
    }

    /// Queues a chunk; blocks only when the writer is `QUEUED_CHUNKS` behind. A send fails
    /// only when the writer stopped on an error, which `finish` then reports.
    fn send(&self, chunk: Bytes) -> Result<()> {
        if self.tx.send(chunk).is_err() {
            bail!("the download's writer thread stopped early");
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        drop(self.tx);
        match self.thread.join() {
            Ok(r) => Ok(r?),
            Err(_) => bail!("the download's writer thread panicked"),
        }
    }
}

/// Bytes gathered before each write of a download: the buffer size of the local copy.
const GATHER: usize = 1 << 20;

/// Writes received chunks to a file as they are, gathered into one `writev` per `GATHER`
/// bytes: the same write sizes as a buffered writer, without copying into its buffer.
struct GatherWriter {
    file: std::fs::File,
    chunks: Vec<Bytes>,
    len: usize,
}

impl GatherWriter {
    fn new(file: std::fs::File) -> Self {
        Self {
            file,
            chunks: Vec::new(),
            len: 0,
        }
    }

    fn push(&mut self, mut chunk: Bytes) -> std::io::Result<()> {
        while self.len + chunk.len() >= GATHER {
            self.chunks.push(chunk.split_to(GATHER - self.len));
            self.flush()?;
        }
        if !chunk.is_empty() {
            self.len += chunk.len();
            self.chunks.push(chunk);
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let mut slices: Vec<std::io::IoSlice<'_>> = self
            .chunks
            .iter()
            .map(|c| std::io::IoSlice::new(c))
            .collect();
        let mut bufs = &mut slices[..];
        while !bufs.is_empty() {
            match self.file.write_vectored(bufs) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => std::io::IoSlice::advance_slices(&mut bufs, n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.chunks.clear();
        self.len = 0;
        Ok(())
    }
}

fn remove_all(files: &[PathBuf]) {
    for f in files {
        let _ = std::fs::remove_file(f);
    }
}

/// Timings of a plain copy of the blob on the same disk: `cp`-like (read/write, 1 MiB
/// buffer, no fsync) and the same followed by fsync.
pub struct LocalCopy {
    pub plain: Timed,
    pub fsync: Timed,
    /// The blob sent over a loopback TCP connection (no HTTP) into a new file, like a
    /// download, and with a final fsync, like an upload: what any server's transfer costs
    /// this machine before the server does anything.
    pub tcp_plain: Timed,
    pub tcp_fsync: Timed,
}

/// Times the local copy and then the raw loopback TCP transfer, one of each, into
/// `out.0` and `out.1`.
fn baselines(
    blob: &Blob,
    scratch: &Path,
    name: &str,
    sync: bool,
    kept: &mut Vec<PathBuf>,
    out: &mut (Vec<Duration>, Vec<Duration>),
) -> Result<()> {
    out.0.push(copy_once(
        blob,
        scratch,
        &format!("copy-{name}"),
        sync,
        kept,
    )?);
    out.1
        .push(tcp_once(blob, scratch, &format!("tcp-{name}"), sync, kept)?);
    Ok(())
}

/// Sends the blob from a thread over a loopback TCP connection (reads of 1 MiB written to
/// the socket, as a server sending from a file or a mapping does) and writes what arrives
/// into a new file in writes of up to 1 MiB, with a final fsync if `sync`; returns the time
/// from connecting until the file is written (and synced). No HTTP, no hashing: the floor
/// of any artifact transfer on this machine.
fn tcp_once(
    blob: &Blob,
    scratch: &Path,
    name: &str,
    sync: bool,
    kept: &mut Vec<PathBuf>,
) -> Result<Duration> {
    let dest = scratch.join(format!("{name}.bin"));
    kept.push(dest.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let src_path = blob.path.clone();
    let sender = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut sock, _) = listener.accept()?;
        let mut src = std::fs::File::open(&src_path)?;
        pump(&mut src, &mut sock).map(|_| ())
    });
    flush_dirty_pages();
    let start = Instant::now();
    let mut sock = std::net::TcpStream::connect(addr)?;
    let mut dst = std::fs::File::create(&dest)?;
    let total = pump(&mut sock, &mut dst)?;
    if sync {
        dst.sync_all()?;
    }
    drop(dst);
    let elapsed = start.elapsed();
    match sender.join() {
        Ok(r) => r?,
        Err(_) => bail!("the loopback TCP sender panicked"),
    }
    if total != blob.len {
        bail!("loopback TCP transfer moved {total} of {} bytes", blob.len);
    }
    Ok(elapsed)
}

/// Moves everything from `src` to `dst` in reads of up to 1 MiB, each written whole before
/// the next read (`cp`'s loop, without `copy_file_range` or `sendfile`); returns the bytes
/// moved. The local copy and both ends of the raw TCP transfer use it.
fn pump(src: &mut impl Read, dst: &mut impl Write) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        dst.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// Copies the blob to `<scratch>/<name>.bin` after a `sync`, with a final fsync if `sync`;
/// returns the time of the copy and adds the new file to `kept`.
///
/// Every copy goes to a new file, deleted only after the workload, as with `cp` to a new
/// name and as with uploads, which the server keeps; a delete-and-recopy loop would refill
/// page-cache pages freed a moment before, a different operation.
/// Writes are 1 MiB each, like `cp`'s own buffered copy; see the README for why the size of
/// each `write` matters on this machine.
fn copy_once(
    blob: &Blob,
    scratch: &Path,
    name: &str,
    sync: bool,
    kept: &mut Vec<PathBuf>,
) -> Result<Duration> {
    let dest = scratch.join(format!("{name}.bin"));
    kept.push(dest.clone());
    flush_dirty_pages();
    let start = Instant::now();
    let mut src = std::fs::File::open(&blob.path)?;
    let mut dst = std::fs::File::create(&dest)?;
    pump(&mut src, &mut dst)?;
    if sync {
        dst.sync_all()?;
    }
    drop(dst);
    Ok(start.elapsed())
}
