//! How client commands print: aligned plain-text tables and `key: value` blocks for people,
//! or the server's JSON, pretty-printed, for scripts.
//!
//! Invariants:
//! - everything goes through a locked stdout with `write!`, so a closed pipe is an
//!   `io::Error` (which `main` treats as success), never a panic;
//! - table cells never contain control characters (they are escaped), so columns stay
//!   aligned and a hostile name cannot drive the terminal.

use serde_json::Value;
use std::io::{self, Write};

/// `--output` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns for people.
    Table,
    /// The server's JSON, pretty-printed.
    Json,
}

/// Writes `v` pretty-printed, with a trailing newline.
pub fn json(v: &Value) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Writes one line of text.
pub fn line(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

/// Writes raw text as is (log streams).
pub fn raw(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// A table with a header row; columns are padded to their widest cell.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.iter().map(|c| clean(c)).collect());
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Renders the table, one line per row, without trailing spaces.
    pub fn render(&self) -> String {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let mut s = String::new();
        for r in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, w) in widths.iter().enumerate() {
                let cell = r.get(i).map(String::as_str).unwrap_or("");
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                let pad = w.saturating_sub(cell.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
            s.push_str(line.trim_end());
            s.push('\n');
        }
        s
    }

    pub fn print(&self) -> anyhow::Result<()> {
        raw(&self.render())
    }
}

/// Renders `key: value` lines with the values aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let w = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut s = String::new();
    for (k, v) in pairs {
        let pad = w - k.chars().count();
        let line = format!("{k}:{}  {}", " ".repeat(pad), clean(v));
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

/// Escapes control characters so a cell stays on one line.
fn clean(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// A metric value as the API spells it: `NaN`, `Infinity`, `-Infinity` or the shortest
/// decimal that round-trips.
pub fn metric(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "Infinity".into()
    } else if v == f64::NEG_INFINITY {
        "-Infinity".into()
    } else {
        v.to_string()
    }
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn time_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// An optional time; empty when absent.
pub fn opt_time_ms(ms: Option<i64>) -> String {
    ms.map(time_ms).unwrap_or_default()
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A byte count for people: `512 B`, `1.5 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_columns_to_the_widest_cell_and_trims_line_ends() {
        let mut t = Table::new(&["ID", "NAME"]);
        t.row(vec!["1".into(), "alpha".into()]);
        t.row(vec!["100".into(), "b".into()]);
        assert_eq!(t.render(), "ID   NAME\n1    alpha\n100  b\n");
    }

    #[test]
    fn table_escapes_control_characters_in_cells() {
        let mut t = Table::new(&["A", "B"]);
        t.row(vec!["x\ny".into(), "\u{1b}[31m".into()]);
        assert_eq!(t.render(), "A     B\nx\\ny  \\u{1b}[31m\n");
    }

    #[test]
    fn fields_align_values_after_the_longest_key() {
        assert_eq!(
            fields(&[("id", "1".into()), ("status", "RUNNING".into())]),
            "id:      1\nstatus:  RUNNING\n"
        );
    }

    #[test]
    fn time_is_rendered_in_utc() {
        assert_eq!(time_ms(0), "1970-01-01 00:00:00");
        assert_eq!(time_ms(1_709_251_199_999), "2024-02-29 23:59:59");
        assert_eq!(time_ms(-1), "1969-12-31 23:59:59");
    }

    #[test]
    fn metric_values_use_the_api_spelling() {
        assert_eq!(metric(f64::NAN), "NaN");
        assert_eq!(metric(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(metric(0.5), "0.5");
    }

    #[test]
    fn byte_counts_pick_a_binary_unit() {
        assert_eq!(bytes(10), "10 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(20 << 20), "20.0 MiB");
    }
}
