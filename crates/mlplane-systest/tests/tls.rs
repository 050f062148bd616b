//! HTTPS through the real binary: a server started with a certificate of a private CA
//! (`--tls-cert`/`--tls-key`, both made by the `openssl` CLI) serves the CLI over `https://` with
//! `--ca-cert`, refuses clients that do not trust it and plain HTTP on its port, records the
//! client's IP in the audit log, and still shuts down gracefully.

use mlplane_systest::{Server, binary};
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

fn cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(binary())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run the CLI");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
        &[
            "--url",
            &url,
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
        &["--url", &url, "secret", "list", "-o", "json"],
        &[("MLPLANE_CA_CERT", &ca)],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("tls_one"), "{out}");
    let (code, out, err) = cli(
        &[
            "--url",
            &url,
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
    let (code, _, err) = cli(&["--url", &url, "secret", "list"], &[]);
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
    let (code, _, err) = cli(&["--url", &url, "--ca-cert", &ca, "secret", "list"], &[]);
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
