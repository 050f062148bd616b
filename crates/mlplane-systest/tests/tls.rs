//! HTTPS through the real binary: a server started with a certificate of a private CA
//! (`--tls-cert`/`--tls-key`, both made by the `openssl` CLI) serves the CLI over `https://` with
//! `--ca-cert`, refuses clients that do not trust it and plain HTTP on its port, records the
//! client's IP in the audit log, and still shuts down gracefully; a job of the built-in
//! executor given the CA (`--tls-ca-cert`) verifies the server with it and logs to its run,
//! with `urllib` and with the unmodified `mlflow` client.

use mlplane_systest::{Server, binary, cli};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl CLI is installed (it makes the test certificates)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private CA and a server certificate it signed for 127.0.0.1 and localhost:
/// (ca cert, server cert, server key) paths.
fn private_ca(dir: &Path) -> (String, String, String) {
    let p = |f: &str| dir.join(f).display().to_string();
    let (ca, ca_key, cert, key) = (p("ca.pem"), p("ca.key"), p("cert.pem"), p("key.pem"));
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
    ];
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend([
        "-subj",
        "/CN=mlplane test CA",
        "-keyout",
        &ca_key,
        "-out",
        &ca,
    ]);
    openssl(&args);
    let mut args = vec!["req", "-x509", "-CA", &ca, "-CAkey", &ca_key];
    args.extend(ec);
    args.extend([
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-addext",
        "extendedKeyUsage=serverAuth",
        "-keyout",
        &key,
        "-out",
        &cert,
    ]);
    openssl(&args);
    (ca, cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_the_cli_and_refuses_plain_http_and_untrusted_clients() {
    let data = tempfile::tempdir().expect("tempdir");
    let side = tempfile::tempdir().expect("tempdir");
    let (ca, cert, key) = private_ca(side.path());
    let server = Server::start(
        data.path(),
        &["--tls-cert", &cert, "--tls-key", &key, "--job-slots", "0"],
    );
    let url = server.url.clone();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let (code, out, err) = cli(
        &url,
        &[
            "--ca-cert",
            &ca,
            "secret",
            "set",
            "tls_one",
            "--from-env",
            "V",
        ],
        &[("V", "over-tls-value")],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = cli(
        &url,
        &["secret", "list", "-o", "json"],
        &[("MLPLANE_CA_CERT", &ca)],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("tls_one"), "{out}");
    let (code, out, err) = cli(
        &url,
        &[
            "--ca-cert",
            &ca,
            "audit",
            "list",
            "--since",
            "1h",
            "-o",
            "json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let records: Value = serde_json::from_str(&out).expect("json");
    let put = records
        .as_array()
        .and_then(|a| a.iter().find(|r| r["method"] == "PUT"))
        .unwrap_or_else(|| panic!("no PUT in {records}"));
    assert_eq!(put["client_ip"], "127.0.0.1", "{put}");

    // A client that does not trust the certificate is refused (exit 2: no answer).
    let (code, _, err) = cli(&url, &["secret", "list"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot reach mlplane"), "{err}");
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = url.replacen("https://", "http://", 1);
    let c = mlplane_systest::client();
    let r = c.get(format!("{plain}/healthz")).send().await;
    assert!(
        r.is_err(),
        "plain HTTP was answered: {:?}",
        r.map(|r| r.status())
    );
    // The server is still healthy after that, and shuts down gracefully.
    let (code, _, err) = cli(&url, &["--ca-cert", &ca, "secret", "list"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        server.terminate(Duration::from_secs(30)),
        "graceful shutdown over TLS"
    );
}

#[test]
fn a_bad_certificate_file_stops_the_server_naming_it() {
    let data = tempfile::tempdir().expect("tempdir");
    let side = tempfile::tempdir().expect("tempdir");
    let (_, _, key) = private_ca(side.path());
    let bogus = side.path().join("bogus.pem");
    std::fs::write(&bogus, "not a certificate\n").expect("write");
    let out = Command::new(binary())
        .args(["server", "--port", "0", "--data-dir"])
        .arg(data.path())
        .arg("--tls-cert")
        .arg(&bogus)
        .args(["--tls-key", &key])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--tls-cert") && err.contains("bogus.pem"),
        "{err}"
    );
    // --tls-cert without --tls-key is a usage error.
    let out = Command::new(binary())
        .args(["server", "--port", "0", "--tls-cert"])
        .arg(&bogus)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

/// The job of [`a_job_talks_back_over_tls_trusting_the_ca_it_was_given`]: it reads the CA
/// from its environment, logs a metric to its own run through the MLflow protocol over
/// `https://`, and shows that a client without the CA is refused.
const TLS_JOB: &str = r#"import os, json, ssl, urllib.request as u
ca = os.environ["MLPLANE_CA_CERT"]
same = ca == os.environ.get("REQUESTS_CA_BUNDLE") == os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH")
print("CA_VARS", same)
print("INSECURE", os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "unset"))
base = os.environ["MLFLOW_TRACKING_URI"]
print("SCHEME", base.split(":")[0])
def context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    # Chain and host name are verified; the test CA lacks extensions strict mode wants.
    ctx.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)
    return ctx
body = {"run_id": os.environ["MLFLOW_RUN_ID"], "key": "over_tls", "value": 1.0, "timestamp": 1, "step": 0}
req = u.Request(base + "/api/2.0/mlflow/runs/log-metric", method="POST",
                data=json.dumps(body).encode(), headers={"content-type": "application/json"})
with u.urlopen(req, context=context(ca)) as r:
    print("LOGGED", r.status)
try:
    u.urlopen(base + "/health", context=context(None))
    print("UNTRUSTED answered")
except Exception as e:
    print("UNTRUSTED refused", type(e).__name__)
"#;

/// A job of the built-in executor talks back to its HTTPS server: with `--tls-ca-cert` the
/// job gets the CA in `MLPLANE_CA_CERT`, `REQUESTS_CA_BUNDLE` and
/// `MLFLOW_TRACKING_SERVER_CERT_PATH` (and no `MLFLOW_TRACKING_INSECURE_TLS`), verifies the
/// server with it and logs to its run. Needs uv (`MLPLANE_UV`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_talks_back_over_tls_trusting_the_ca_it_was_given() {
    if !mlplane_systest::uv_available() {
        return;
    }
    let data = tempfile::tempdir().expect("tempdir");
    let side = tempfile::tempdir().expect("tempdir");
    let (ca, cert, key) = private_ca(side.path());
    let server = Server::start(
        data.path(),
        &[
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--tls-ca-cert",
            &ca,
            "--job-slots",
            "1",
        ],
    );
    let url = server.url.clone();
    let project = side.path().join("project");
    std::fs::create_dir_all(project.join("src")).expect("dirs");
    std::fs::write(project.join("src/job.py"), TLS_JOB).expect("script");
    let spec = project.join("job.yml");
    std::fs::write(
        &spec,
        "command: python job.py\ncode: src\nenvironment:\n  pip: []\n",
    )
    .expect("spec");
    let spec = spec.to_str().expect("utf-8");
    let (code, out, err) = cli(
        &url,
        &["--ca-cert", &ca, "job", "create", "-f", spec, "--stream"],
        &[],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    // The whole log once the job ended (`--stream` may stop at the end before the last lines).
    let out = log_of(&url, &ca, &err);
    for line in [
        "CA_VARS True",
        "INSECURE unset",
        "SCHEME https",
        "LOGGED 200",
        "UNTRUSTED refused",
    ] {
        assert!(out.contains(line), "{line} missing in\n{out}\n{err}");
    }
    let (code, runs, err) = cli(&url, &["--ca-cert", &ca, "-o", "json", "job", "list"], &[]);
    assert_eq!(code, 0, "{err}");
    let jobs: Value = serde_json::from_str(&runs).expect("json");
    let job = jobs
        .as_array()
        .or_else(|| jobs["items"].as_array())
        .and_then(|a| a.first().cloned())
        .unwrap_or_else(|| panic!("no job in {jobs}"));
    assert_eq!(job["status"], "Completed", "{job}");

    // The unmodified mlflow client (its `requests` verifies with the CA it was handed),
    // when the MLflow client venv is there (`scripts/mlflow-tests.sh --install-only`).
    let venv = std::env::var("MLPLANE_MLFLOW_VENV").unwrap_or_else(|_| {
        format!(
            "{}/.cache/mlplane/mlflow-venv",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let python = format!("{venv}/bin/python");
    if !Path::new(&python).exists() {
        eprintln!("skipping the mlflow client part: no venv at {venv}");
        return;
    }
    std::fs::write(project.join("src/job.py"), MLFLOW_TLS_JOB).expect("script");
    std::fs::write(
        project.join("job.yml"),
        format!("command: {python} job.py\ncode: src\nenvironment:\n  pip: []\n"),
    )
    .expect("spec");
    let (code, out, err) = cli(
        &url,
        &["--ca-cert", &ca, "job", "create", "-f", spec, "--stream"],
        &[],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let log = log_of(&url, &ca, &err);
    assert!(log.contains("MLFLOW_METRIC 2.0"), "{out}\n{log}\n{err}");
}

/// The log of the job `job create` named in its stderr (`job <name> queued …`).
fn log_of(url: &str, ca: &str, stderr: &str) -> String {
    let name = stderr
        .split_whitespace()
        .skip_while(|w| *w != "job")
        .nth(1)
        .expect("the job's name");
    let (code, log, err) = cli(url, &["--ca-cert", ca, "job", "stream", name], &[]);
    assert_eq!(code, 0, "{err}");
    log
}

/// The stock `mlflow` client in a job over HTTPS: no `MLFLOW_TRACKING_INSECURE_TLS`, only
/// the CA in `MLFLOW_TRACKING_SERVER_CERT_PATH`.
const MLFLOW_TLS_JOB: &str = r#"import os, mlflow
rid = os.environ["MLFLOW_RUN_ID"]
with mlflow.start_run():
    mlflow.log_metric("via_mlflow_tls", 2.0)
print("MLFLOW_METRIC", mlflow.MlflowClient().get_run(rid).data.metrics.get("via_mlflow_tls"))
"#;
