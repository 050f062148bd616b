//! `--auth` through the real binary: a non-loopback host without auth refuses to start; the
//! first start with auth prints the administrator's bootstrap token once (never again after
//! a restart); the CLI works with `--token`, with `mlplane login`'s stored token (a file of
//! mode 0600), and a revoked token is refused with exit 1.

use mlplane_systest::binary;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

struct AuthServer {
    child: std::process::Child,
    url: String,
    bootstrap: Option<String>,
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `mlplane server --auth on`, collecting the bootstrap token from stderr.
fn start(data: &std::path::Path) -> AuthServer {
    let mut child = Command::new(binary())
        .args([
            "server",
            "--auth",
            "on",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
        ])
        .arg(data)
        .args(["--job-slots", "0"])
        .env("MLPLANE_LOG", "warn")
        .env("MLPLANE_ADMIN_PASSWORD", "admin-password-1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tok_tx, tok_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("mlp_") {
                let _ = tok_tx.send(line.trim().to_owned());
            }
        }
    });
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("listening line");
    let url = first
        .trim()
        .strip_prefix("mlplane listening on ")
        .expect("listening line")
        .to_owned();
    // The token line comes before the listening line; allow the reader thread a moment.
    let bootstrap = tok_rx.recv_timeout(Duration::from_millis(500)).ok();
    AuthServer {
        child,
        url,
        bootstrap,
    }
}

fn cli(
    url: &str,
    home: &std::path::Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> std::process::Output {
    Command::new(binary())
        .arg("--url")
        .arg(url)
        .args(args)
        .env_remove("MLPLANE_TOKEN")
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("the CLI ran")
}

fn text(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_public_address_without_auth_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(binary())
        .args(["server", "--host", "0.0.0.0", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .env("MLPLANE_LOG", "warn")
        .env_remove("MLPLANE_AUTH")
        .output()
        .expect("ran");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--auth on"), "{err}");
    assert!(
        !dir.path().join("mlplane.db").exists(),
        "nothing was created"
    );
}

#[test]
fn auth_on_bootstraps_an_admin_once_and_the_cli_uses_tokens() {
    let data = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("home");
    let server = start(data.path());
    let admin = server
        .bootstrap
        .clone()
        .expect("the first start prints a token");
    assert!(admin.starts_with("mlp_"));
    let url = server.url.clone();
    let h = home.path();

    // Without credentials the CLI is refused.
    let o = cli(&url, h, &[], &["experiments", "list"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unauthenticated"));

    // The admin makes a Reader.
    let o = cli(
        &url,
        h,
        &[("MLPLANE_NEW_PASSWORD", "alice-password")],
        &["--token", &admin, "user", "create", "alice"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = cli(
        &url,
        h,
        &[],
        &["--token", &admin, "role-binding", "set", "alice", "Reader"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = cli(&url, h, &[], &["--token", &admin, "role-binding", "list"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("alice"),
        "{}",
        text(&o)
    );

    // alice signs in; the token lands in a 0600 file and is used by later commands.
    let o = cli(
        &url,
        h,
        &[("MLPLANE_PASSWORD", "alice-password")],
        &["login", "--user", "alice"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let creds = h.join(".config/mlplane/credentials");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&creds)
            .expect("credentials")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let o = cli(&url, h, &[], &["experiments", "list"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = cli(&url, h, &[], &["experiments", "create", "nope"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("forbidden"),
        "{}",
        text(&o)
    );
    let o = cli(
        &url,
        h,
        &[("MLPLANE_PASSWORD", "wrong-password")],
        &["login", "--user", "alice"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    // Tokens: made once, listed without secrets, revoked for good.
    let o = cli(&url, h, &[], &["token", "create", "ci"]);
    assert!(o.status.success(), "{}", text(&o));
    let token = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    assert!(token.starts_with("mlp_"), "{}", text(&o));
    let o = cli(&url, h, &[], &["--token", &token, "token", "list"]);
    let listed = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success() && listed.contains("ci"), "{}", text(&o));
    let secret = token.rsplit('_').next().expect("secret");
    assert!(!listed.contains(secret), "token list shows no secret");
    let id = token.split('_').nth(1).expect("id");
    let o = cli(&url, h, &[], &["--token", &token, "token", "revoke", id]);
    assert!(o.status.success(), "{}", text(&o));
    let o = cli(&url, h, &[], &["--token", &token, "experiments", "list"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    // A restart does not print the bootstrap token again; the admin's token still works.
    drop(server);
    let again = start(data.path());
    assert!(
        again.bootstrap.is_none(),
        "the bootstrap token is shown once"
    );
    let o = cli(&again.url, h, &[], &["--token", &admin, "user", "list"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("alice"),
        "{}",
        text(&o)
    );
}
