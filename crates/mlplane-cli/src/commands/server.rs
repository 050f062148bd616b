//! `mlplane server`: merges flags, `MLPLANE_*` env vars and defaults into a
//! [`mlplane_server::ServerConfig`], sets up logging and serves until SIGTERM/SIGINT.
//!
//! Invariants:
//! - once listening, exactly one line goes to stdout, `mlplane listening on http://<addr>`
//!   (`https://` with `--tls-cert`/`--tls-key`),
//!   flushed at once (tests and supervisors parse it); everything else goes to stderr;
//! - a server that cannot start (busy port, bad database URL, unusable artifact store)
//!   returns an error, which `main` prints and turns into exit code 2.

use anyhow::Context;
use mlplane_server::{Limits, ServerConfig};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// Flags of `mlplane server`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, env = "MLPLANE_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, env = "MLPLANE_PORT", default_value_t = 5050)]
    port: u16,
    /// Directory for the SQLite database and local artifacts.
    #[arg(long, env = "MLPLANE_DATA_DIR", default_value = "./mlplane-data")]
    data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...` [default: sqlite://<data-dir>/mlplane.db]
    #[arg(long, env = "MLPLANE_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// A folder, `file://...` or `s3://bucket/prefix` [default: <data-dir>/artifacts]
    #[arg(long, env = "MLPLANE_ARTIFACTS_URI")]
    artifacts_uri: Option<String>,
    /// Largest JSON request body: bytes, or with a unit (`512KiB`, `4MiB`).
    #[arg(long, env = "MLPLANE_MAX_REQUEST_BYTES", default_value = "4MiB", value_parser = parse_size)]
    max_request_bytes: u64,
    /// Largest single artifact upload: bytes, or with a unit (`10GiB`).
    #[arg(long, env = "MLPLANE_MAX_ARTIFACT_BYTES", default_value = "64GiB", value_parser = parse_size)]
    max_artifact_bytes: u64,
    /// Jobs of compute `local` this server runs at once; 0 runs none.
    #[arg(long, env = "MLPLANE_JOB_SLOTS", default_value_t = 2)]
    job_slots: usize,
    /// How often the executor looks for jobs and cancels stored by another server sharing
    /// the database, in milliseconds (this server's own submits and cancels wake it at once).
    #[arg(long, env = "MLPLANE_JOB_POLL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    job_poll_ms: u64,
    /// Who may call the server: `none` (anonymous with every permission; only on a loopback
    /// --host) or `on` (users, tokens and role bindings; the first start creates `admin`
    /// and prints its bootstrap token once).
    #[arg(long, env = "MLPLANE_AUTH", default_value = "none", value_parser = ["none", "on"])]
    auth: String,
    /// File holding the 32-byte master key of workspace secrets (raw or base64); without
    /// it, MLPLANE_SECRETS_KEY (base64), else <data-dir>/secrets.key (created on first start).
    #[arg(long, env = "MLPLANE_SECRETS_KEY_FILE")]
    secrets_key_file: Option<PathBuf>,
    /// PEM certificate chain: serve HTTPS (needs --tls-key).
    #[arg(long, env = "MLPLANE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "MLPLANE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// PEM CA certificate(s) jobs of the built-in executor trust to reach this server over
    /// HTTPS (its certificate must name 127.0.0.1); without it they skip verification of
    /// that loopback connection.
    #[arg(long, env = "MLPLANE_TLS_CA_CERT", requires = "tls_cert")]
    tls_ca_cert: Option<PathBuf>,
    #[command(subcommand)]
    action: Option<ServerAction>,
}

/// Maintenance the server binary does on its database instead of serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ServerAction {
    /// Re-encrypt every workspace secret from one master key to another, in one
    /// transaction. Stop the servers first; start them with the new key afterwards.
    RotateSecretsKey {
        /// The key the secrets are encrypted under now.
        #[arg(long)]
        old_key_file: PathBuf,
        /// The key to encrypt them under.
        #[arg(long)]
        new_key_file: PathBuf,
    },
}

fn key_source(file: Option<PathBuf>) -> mlplane_server::secrets_key::KeySource {
    use mlplane_server::secrets_key::KeySource;
    match (file, std::env::var("MLPLANE_SECRETS_KEY")) {
        (Some(f), _) => KeySource::File(f),
        (None, Ok(text)) if !text.trim().is_empty() => KeySource::Base64(text),
        _ => KeySource::DataDir,
    }
}

async fn rotate(
    db_url: &str,
    old_key_file: &std::path::Path,
    new_key_file: &std::path::Path,
) -> anyhow::Result<()> {
    let done = mlplane_server::secrets_key::rotate_database(db_url, old_key_file, new_key_file)
        .await
        .context("rotating the secrets key failed")?;
    println!(
        "rotated {} secret(s) from key {} to key {} ({} already under the new key)",
        done.rotated, done.old_key_id, done.new_key_id, done.already
    );
    Ok(())
}

/// Runs the server until a shutdown signal.
pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    init_logging();
    if let Some(ServerAction::RotateSecretsKey {
        old_key_file,
        new_key_file,
    }) = &args.action
    {
        let url = args
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", args.data_dir.join("mlplane.db").display()));
        return rotate(&url, old_key_file, new_key_file).await;
    }
    let max_request_bytes = usize::try_from(args.max_request_bytes)
        .context("--max-request-bytes does not fit this platform's address space")?;
    // `host:port` is formatted by the server; an IPv6 literal needs its brackets.
    let host = if args.host.contains(':') && !args.host.starts_with('[') {
        format!("[{}]", args.host)
    } else {
        args.host
    };
    let config = ServerConfig {
        host,
        port: args.port,
        data_dir: args.data_dir,
        database_url: args.database_url,
        artifacts_uri: args.artifacts_uri,
        limits: Limits {
            max_request_bytes,
            max_artifact_bytes: args.max_artifact_bytes,
        },
        job_slots: args.job_slots,
        job_poll: std::time::Duration::from_millis(args.job_poll_ms),
        auth: mlplane_server::auth::AuthMode::parse(&args.auth)
            .context("--auth must be none or on")?,
        // From the environment only, so it never shows in a process listing.
        admin_password: std::env::var("MLPLANE_ADMIN_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty()),
        secrets_key: key_source(args.secrets_key_file),
        tls: args.tls_cert.zip(args.tls_key),
        tls_ca: args.tls_ca_cert,
    };
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    mlplane_server::run(config, |addr| {
        let mut out = std::io::stdout().lock();
        // Ignored on purpose: a supervisor that closed our stdout must not stop the server.
        let _ = writeln!(out, "mlplane listening on {scheme}://{addr}");
        let _ = out.flush();
        // stderr: stdout carries exactly the one line above.
        eprintln!("studio at {scheme}://{addr}/studio/");
        tracing::info!("API at {scheme}://{addr}/api/v1 (OpenAPI: /api/v1/openapi.json)");
    })
    .await
    .context("mlplane server failed")
}

/// Logs to stderr, filtered by `MLPLANE_LOG`, else `RUST_LOG`, else `info`.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let spec = std::env::var("MLPLANE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let (filter, bad) = match EnvFilter::try_new(&spec) {
        Ok(f) => (f, None),
        Err(e) => (EnvFilter::new("info"), Some(e)),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    if let Some(e) = bad {
        tracing::warn!("ignoring log filter '{spec}': {e}");
    }
}

/// Parses `1048576`, `512K`, `4MiB`, `1.5GB`: binary units for `K/KiB`, `M/MiB`, ...;
/// decimal ones for `KB`, `MB`, ...
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "unknown size unit in '{s}' (use B, KiB, MiB, GiB or TiB)"
            ));
        }
    };
    if let Ok(n) = num.parse::<u64>() {
        return n
            .checked_mul(mult)
            .ok_or_else(|| format!("size '{s}' is too large"));
    }
    match num.parse::<f64>() {
        Ok(f) if f.is_finite() && f >= 0.0 && f * (mult as f64) < u64::MAX as f64 => {
            Ok((f * mult as f64) as u64)
        }
        _ => Err(format!("invalid size '{s}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_accept_plain_bytes_and_binary_or_decimal_units() {
        assert_eq!(parse_size("4194304"), Ok(4 << 20));
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_size("64GiB"), Ok(64 << 30));
        assert_eq!(parse_size("1.5k"), Ok(1536));
        assert_eq!(parse_size("2 MB"), Ok(2_000_000));
    }

    #[test]
    fn sizes_reject_garbage_and_overflow() {
        assert!(parse_size("").is_err());
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999TiB").is_err());
    }
}
