//! Turns both servers' measurements into the comparison table (plain text for the terminal,
//! markdown for `bench/results.md`) and a details section with request counts, errors and
//! the CPU time each side spent.
//!
//! Invariants:
//! - every ratio reads "times better for mlplane": throughput is mlplane ÷ mlflow, while
//!   time and memory are mlflow ÷ mlplane, so one `≥ N×` goal column fits every row;
//! - a row whose measurement is missing on either side shows `n/a` and is never "met".

use crate::load::Outcome;
use crate::search::SearchResult;
use crate::sizes::Sizes;
use crate::workloads::{ArtifactResult, HistoryResult, Timed};
use std::fmt::Write as _;
use std::time::Duration;

/// A measurement that was not attempted (`None`) or failed (`Some(Err)`).
pub type Measure<T> = Option<Result<T, String>>;

/// Everything measured on one server.
#[derive(Default)]
pub struct Side {
    pub startup: Option<Duration>,
    pub rss_idle: Option<u64>,
    pub rss_peak: Option<u64>,
    pub log_batch: Measure<Outcome>,
    pub create_run: Measure<Outcome>,
    pub writers: Measure<Outcome>,
    pub history: Measure<HistoryResult>,
    pub search: Measure<SearchResult>,
    pub artifacts: Measure<ArtifactResult>,
    /// Failures outside a single workload (start-up, warm-up).
    pub failure: Option<String>,
    /// Process-tree RSS right after each workload.
    pub rss_after: Vec<(&'static str, u64)>,
}

/// The whole run.
pub struct Report {
    pub header: Vec<(String, String)>,
    pub sizes: Sizes,
    pub quick: bool,
    pub mlplane: Side,
    pub mlflow: Side,
    /// mlflow again with `--workers 1`, for create-run only.
    pub mlflow_w1: Side,
}

struct Row {
    workload: String,
    mlflow: String,
    mlplane: String,
    ratio: String,
    goal: String,
    met: &'static str,
}

fn ok<T>(m: &Measure<T>) -> Option<&T> {
    m.as_ref().and_then(|r| r.as_ref().ok())
}

/// 1234567.8 -> "1,234,568"; small values keep a few significant digits.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    if v.abs() < 10.0 {
        return format!("{v:.2}");
    }
    if v.abs() < 100.0 {
        return format!("{v:.1}");
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{:.1} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", num(bytes as f64 / (1024.0 * 1024.0)))
}

/// A comparison row. `better` is how many times better mlplane is, if both sides measured.
fn row(
    workload: String,
    mlflow: Option<String>,
    mlplane: Option<String>,
    better: Option<f64>,
    goal: f64,
) -> Row {
    let na = || "n/a".to_string();
    Row {
        workload,
        mlflow: mlflow.unwrap_or_else(na),
        mlplane: mlplane.unwrap_or_else(na),
        ratio: better.map_or_else(na, |r| format!("{}×", num(r))),
        goal: if goal.fract() == 0.0 {
            format!("≥ {goal:.0}×")
        } else {
            format!("≥ {goal}×")
        },
        met: match better {
            Some(r) if r >= goal => "yes",
            Some(_) => "NO",
            None => "n/a",
        },
    }
}

impl Report {
    /// The faster of mlflow's two create-run measurements, and which config it came from.
    fn mlflow_create_run(&self) -> Option<(&Outcome, &'static str)> {
        let a = ok(&self.mlflow.create_run).map(|o| (o, "default workers"));
        let b = ok(&self.mlflow_w1.create_run).map(|o| (o, "--workers 1"));
        match (a, b) {
            (Some(a), Some(b)) => Some(if b.0.rate() > a.0.rate() { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    fn rows(&self) -> Vec<Row> {
        let s = &self.sizes;
        let mut rows = Vec::new();
        let rate = |m: Option<&Outcome>| m.map(|o| o.rate());
        let faster = |a: Option<f64>, b: Option<f64>| Some(b? / a?);
        let slower = |a: Option<f64>, b: Option<f64>| Some(a? / b?);

        let (f, p) = (
            rate(ok(&self.mlflow.log_batch)),
            rate(ok(&self.mlplane.log_batch)),
        );
        rows.push(row(
            format!(
                "log-batch, {} metrics/call, {} in flight (points/s)",
                s.batch, s.inflight
            ),
            f.map(num),
            p.map(num),
            faster(f, p),
            50.0,
        ));

        let fc = self.mlflow_create_run();
        let (f, p) = (
            fc.map(|(o, _)| o.rate()),
            rate(ok(&self.mlplane.create_run)),
        );
        rows.push(row(
            format!("create-run, {} in flight (runs/s)", s.inflight),
            f.map(|v| format!("{} ({})", num(v), fc.map_or("", |(_, c)| c))),
            p.map(num),
            faster(f, p),
            20.0,
        ));

        let (fw, pw) = (ok(&self.mlflow.writers), ok(&self.mlplane.writers));
        let (f, p) = (rate(fw), rate(pw));
        rows.push(row(
            format!("{} writers, {} metrics/call (points/s)", s.writers, s.batch),
            f.map(num),
            p.map(num),
            faster(f, p),
            30.0,
        ));
        rows.push(Row {
            workload: format!("{} writers: failed requests", s.writers),
            mlflow: fw.map_or("n/a".into(), |o| format!("{} of {}", o.errors, o.requests)),
            mlplane: pw.map_or("n/a".into(), |o| format!("{} of {}", o.errors, o.requests)),
            ratio: "".into(),
            goal: "0".into(),
            met: match pw {
                Some(o) if o.errors == 0 => "yes",
                Some(_) => "NO",
                None => "n/a",
            },
        });

        let p99 = |o: Option<&Outcome>| o.and_then(|o| o.latency_quantile(0.99));
        rows.push(Row {
            workload: format!("{} writers: p99 request latency", s.writers),
            mlflow: p99(fw).map_or("n/a".into(), secs),
            mlplane: p99(pw).map_or("n/a".into(), secs),
            ratio: match (p99(fw), p99(pw)) {
                (Some(f), Some(p)) => {
                    format!("{}×", num(f.as_secs_f64() / p.as_secs_f64().max(1e-9)))
                }
                _ => "n/a".into(),
            },
            goal: "< 50 ms".into(),
            met: match p99(pw) {
                Some(p) if p < Duration::from_millis(50) => "yes",
                Some(_) => "NO",
                None => "n/a",
            },
        });

        let (fq, pq) = (ok(&self.mlflow.search), ok(&self.mlplane.search));
        let t = |q: Option<&SearchResult>| q.map(|q| q.timed.median.as_secs_f64());
        rows.push(row(
            format!(
                "search {} runs: `{}` by {} → {} runs (median of {})",
                num(s.search_runs as f64),
                crate::search::FILTER,
                crate::search::ORDER_BY.join(", "),
                pq.or(fq).map_or("?".into(), |q| q.matched.to_string()),
                s.search_reps
            ),
            fq.map(|q| secs(q.timed.median)),
            pq.map(|q| secs(q.timed.median)),
            slower(t(fq), t(pq)),
            50.0,
        ));

        let (fh, ph) = (ok(&self.mlflow.history), ok(&self.mlplane.history));
        let t = |h: Option<&HistoryResult>| h.map(|h| h.full.median.as_secs_f64());
        rows.push(row(
            format!(
                "history of {} points, full fetch (median of {})",
                num(s.history_points as f64),
                s.reps
            ),
            fh.map(|h| secs(h.full.median)),
            ph.map(|h| secs(h.full.median)),
            slower(t(fh), t(ph)),
            20.0,
        ));
        fn sampled(h: Option<&HistoryResult>) -> Option<&Timed> {
            h.and_then(|h| h.sampled.as_ref().ok())
        }
        let t = |h: Option<&Timed>| h.map(|t| t.median.as_secs_f64());
        let (fs, ps) = (sampled(fh), sampled(ph));
        rows.push(row(
            format!(
                "history of {} points, downsampled to {} (median of {})",
                num(s.history_points as f64),
                s.sampled_points,
                s.reps
            ),
            fs.map(|t| secs(t.median)),
            ps.map(|t| secs(t.median)),
            slower(t(fs), t(ps)),
            20.0,
        ));

        let (fa, pa) = (ok(&self.mlflow.artifacts), ok(&self.mlplane.artifacts));
        // Each direction is compared with the local copy doing the same work: an upload is
        // durable (fsynced before it is acknowledged), so its baseline is copy + fsync; a
        // download ends in the client's page cache, so its baseline is a plain copy. Each
        // server is compared with the copies timed beside its own transfers.
        type Pick = fn(&ArtifactResult) -> f64;
        for (dir, pick, copy, baseline, tcp, tcp_name) in [
            (
                "upload",
                (|a: &ArtifactResult| a.upload.mib_per_sec()) as Pick,
                (|a: &ArtifactResult| a.copy.fsync.mib_per_sec()) as Pick,
                "local copy + fsync",
                (|a: &ArtifactResult| a.copy.tcp_fsync.mib_per_sec()) as Pick,
                "raw loopback TCP transfer + fsync",
            ),
            (
                "download",
                |a: &ArtifactResult| a.download.mib_per_sec(),
                |a: &ArtifactResult| a.copy.plain.mib_per_sec(),
                "local copy",
                |a: &ArtifactResult| a.copy.tcp_plain.mib_per_sec(),
                "raw loopback TCP transfer",
            ),
        ] {
            let (f, p) = (fa.map(pick), pa.map(pick));
            rows.push(row(
                format!(
                    "artifact {} MiB {dir} (MiB/s, median of {})",
                    s.artifact_mib, s.artifact_reps
                ),
                f.map(num),
                p.map(num),
                faster(f, p),
                1.0,
            ));
            let share = |a: Option<&ArtifactResult>| a.map(|a| (pick(a) / copy(a), copy(a)));
            let (fs, ps) = (share(fa), share(pa));
            let cell = |x: Option<(f64, f64)>| {
                x.map_or("n/a".into(), |(r, cp)| {
                    format!("{:.0}% of {}", 100.0 * r, num(cp))
                })
            };
            rows.push(Row {
                workload: format!(
                    "artifact {dir} ÷ {baseline} timed beside it (MiB/s, median of {})",
                    s.artifact_reps
                ),
                mlflow: cell(fs),
                mlplane: cell(ps),
                ratio: ps.map_or("n/a".into(), |(r, _)| format!("{r:.2}× cp")),
                goal: "≥ 0.80× cp".into(),
                met: match ps {
                    Some((r, _)) if r >= 0.8 => "yes",
                    Some(_) => "NO",
                    None => "n/a",
                },
            });
            let raw = |a: Option<&ArtifactResult>| {
                a.map(|a| (pick(a) / tcp(a), tcp(a), copy(a) / tcp(a)))
            };
            let (fr, pr) = (raw(fa), raw(pa));
            let cell = |x: Option<(f64, f64, f64)>| {
                x.map_or("n/a".into(), |(r, t, _)| {
                    format!("{:.0}% of {}", 100.0 * r, num(t))
                })
            };
            rows.push(Row {
                workload: format!(
                    "artifact {dir} ÷ {tcp_name} timed beside it (no HTTP: the transport's floor; MiB/s, median of {})",
                    s.artifact_reps
                ),
                mlflow: cell(fr),
                mlplane: cell(pr),
                ratio: pr.map_or("n/a".into(), |(r, _, c)| {
                    format!("{r:.2}× tcp (the copy is {c:.2}× tcp)")
                }),
                goal: String::new(),
                met: "",
            });
        }

        let rss = |v: Option<u64>| v.map(|b| b as f64);
        for (label, f, p) in [
            (
                "RSS idle after start (process tree)",
                self.mlflow.rss_idle,
                self.mlplane.rss_idle,
            ),
            (
                "RSS peak under load (process tree)",
                self.mlflow.rss_peak,
                self.mlplane.rss_peak,
            ),
        ] {
            rows.push(row(
                label.into(),
                f.map(mib),
                p.map(mib),
                slower(rss(f), rss(p)),
                20.0,
            ));
        }
        rows
    }

    /// The comparison table as aligned plain text.
    pub fn text_table(&self) -> String {
        let rows = self.rows();
        let head = ["workload", "mlflow", "mlplane", "ratio", "goal", "met?"];
        let cells: Vec<[String; 6]> = rows
            .iter()
            .map(|r| {
                [
                    r.workload.clone(),
                    r.mlflow.clone(),
                    r.mlplane.clone(),
                    r.ratio.clone(),
                    r.goal.clone(),
                    r.met.to_string(),
                ]
            })
            .collect();
        let mut width = head.map(|h| h.chars().count());
        for c in &cells {
            for (i, v) in c.iter().enumerate() {
                width[i] = width[i].max(v.chars().count());
            }
        }
        let line = |c: &[String]| {
            let mut s = String::new();
            for (i, v) in c.iter().enumerate() {
                let pad = width[i] - v.chars().count();
                if i == 0 {
                    let _ = write!(s, "{v}{}", " ".repeat(pad));
                } else {
                    let _ = write!(s, " | {}{v}", " ".repeat(pad));
                }
            }
            s.trim_end().to_string() + "\n"
        };
        let mut out = line(&head.map(String::from));
        out += &(width
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-")
            + "\n");
        for c in &cells {
            out += &line(c);
        }
        out
    }

    fn md_table(&self) -> String {
        let mut s = String::from(
            "| workload | mlflow | mlplane | ratio | goal | met? |\n|---|---:|---:|---:|---|---|\n",
        );
        for r in self.rows() {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                r.workload, r.mlflow, r.mlplane, r.ratio, r.goal, r.met
            );
        }
        s
    }

    /// Per-side request counts, errors and CPU use, plus the secondary numbers.
    fn details(&self) -> String {
        let mut s = String::from(
            "| server | workload | requests | errors | wall | rate | server CPU | bench CPU |\n|---|---|---:|---:|---:|---:|---:|---:|\n",
        );
        let mut outcome = |side: &str, name: &str, m: &Measure<Outcome>, unit: &str| match m {
            Some(Ok(o)) => {
                let _ = writeln!(
                    s,
                    "| {side} | {name} | {} | {} | {} | {} {unit}/s | {:.2} s | {:.2} s |",
                    o.requests,
                    o.errors,
                    secs(o.elapsed),
                    num(o.rate()),
                    o.server_cpu,
                    o.bench_cpu
                );
            }
            Some(Err(e)) => {
                let _ = writeln!(
                    s,
                    "| {side} | {name} | failed: {} | | | | | |",
                    e.replace('|', "/").replace('\n', " ")
                );
            }
            None => {}
        };
        for (side, x) in [("mlplane", &self.mlplane), ("mlflow", &self.mlflow)] {
            outcome(side, "log-batch", &x.log_batch, "points");
            outcome(side, "create-run", &x.create_run, "runs");
            outcome(side, "writers", &x.writers, "points");
            if let Some(Ok(h)) = &x.history {
                outcome(
                    side,
                    "history ingest",
                    &Some(Ok(h.ingest.clone())),
                    "points",
                );
            }
        }
        outcome(
            "mlflow --workers 1",
            "create-run",
            &self.mlflow_w1.create_run,
            "runs",
        );

        let _ = writeln!(
            s,
            "\n| server | timed fetch / transfer | each run | server CPU (all runs) | bench CPU (all runs) |\n|---|---|---|---:|---:|"
        );
        fn timed(s: &mut String, side: &str, name: &str, t: &Timed) {
            let each: Vec<String> = t.all.iter().map(|d| secs(*d)).collect();
            let _ = writeln!(
                s,
                "| {side} | {name} | {} | {:.2} s | {:.2} s |",
                each.join(", "),
                t.server_cpu,
                t.bench_cpu
            );
        }
        for (side, x) in [("mlplane", &self.mlplane), ("mlflow", &self.mlflow)] {
            if let Some(Ok(h)) = &x.history {
                timed(&mut s, side, "history full", &h.full);
                match &h.sampled {
                    Ok(t) => timed(
                        &mut s,
                        side,
                        &format!("history downsampled ({} points)", t.amount),
                        t,
                    ),
                    Err(e) => {
                        let _ = writeln!(
                            s,
                            "| {side} | history downsampled | n/a: {} | | |",
                            e.replace('|', "/")
                        );
                    }
                }
            }
            if let Some(Ok(a)) = &x.artifacts {
                timed(&mut s, side, "artifact upload", &a.upload);
                timed(&mut s, side, "local copy + fsync beside it", &a.copy.fsync);
                timed(&mut s, side, "raw TCP + fsync beside it", &a.copy.tcp_fsync);
                timed(&mut s, side, "artifact download", &a.download);
                timed(&mut s, side, "local copy beside it", &a.copy.plain);
                timed(&mut s, side, "raw TCP beside it", &a.copy.tcp_plain);
            }
        }

        let _ = writeln!(s);
        for (side, x) in [
            ("mlplane", &self.mlplane),
            ("mlflow", &self.mlflow),
            ("mlflow --workers 1", &self.mlflow_w1),
        ] {
            if let Some(d) = x.startup {
                let _ = writeln!(
                    s,
                    "- {side}: ready {} after start; idle RSS {}.",
                    secs(d),
                    x.rss_idle.map_or("n/a".into(), mib)
                );
            }
            if !x.rss_after.is_empty() {
                let each: Vec<String> = x
                    .rss_after
                    .iter()
                    .map(|(w, b)| format!("{w} {}", mib(*b)))
                    .collect();
                let _ = writeln!(s, "- {side}: RSS after each workload: {}.", each.join(", "));
            }
            if let Some(Ok(o)) = &x.writers {
                let q: Vec<String> = [
                    ("p50", 0.5),
                    ("p90", 0.9),
                    ("p95", 0.95),
                    ("p99", 0.99),
                    ("p99.9", 0.999),
                    ("max", 1.0),
                ]
                .iter()
                .filter_map(|&(name, q)| {
                    o.latency_quantile(q).map(|d| format!("{name} {}", secs(d)))
                })
                .collect();
                if !q.is_empty() {
                    let _ = writeln!(s, "- {side}: writers' request latency: {}.", q.join(", "));
                }
            }
            if let Some(e) = &x.failure {
                let _ = writeln!(s, "- {side}: FAILED: {}", e.replace('\n', " "));
            }
            for (name, m) in [
                ("log-batch", &x.log_batch),
                ("create-run", &x.create_run),
                ("writers", &x.writers),
            ] {
                if let Some(Ok(Outcome {
                    first_error: Some(e),
                    errors,
                    ..
                })) = m
                {
                    let _ = writeln!(
                        s,
                        "- {side} {name}: {errors} failed requests, first: `{}`",
                        e.replace('`', "'")
                    );
                }
            }
            if let Some(Err(e)) = &x.search {
                let _ = writeln!(s, "- {side} search: failed: {e}");
            }
            if let Some(Err(e)) = &x.history {
                let _ = writeln!(s, "- {side} history: failed: {e}");
            }
            if let Some(Err(e)) = &x.artifacts {
                let _ = writeln!(s, "- {side} artifacts: failed: {e}");
            }
        }
        s
    }

    pub fn markdown(&self) -> String {
        let mut s = String::from("# mlplane vs mlflow benchmark results\n\n");
        if self.quick {
            s += "**Quick mode: reduced sizes, for smoke testing only; not comparable with a full run.**\n\n";
        }
        s += "Written by `bash bench/run.sh`; overwritten on every run.\n\n";
        for (k, v) in &self.header {
            let _ = writeln!(s, "- {k}: {v}");
        }
        s += "\n## Comparison\n\n";
        s += &self.md_table();
        s += "\nRatios read \"times better for mlplane\": throughput is mlplane ÷ mlflow, time and memory are mlflow ÷ mlplane.\n";
        s += "\n## Details\n\n";
        s += &self.details();
        s
    }
}
