//! Building environments with the real uv against the real package index: first build,
//! reuse, concurrent builds of one spec, failures, incomplete directories, timeouts and
//! image environments.
//!
//! Skipped (with a notice) only when uv cannot be found and `MLPLANE_REQUIRE_UV` is unset;
//! `scripts/test.sh` sets it, so CI never skips.

use mlplane_envs::{BuiltEnv, EnvBuilder, EnvError, ResolvedEnv, find_uv};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn uv() -> Option<std::path::PathBuf> {
    match find_uv() {
        Ok(p) => Some(p),
        Err(e) if std::env::var_os("MLPLANE_REQUIRE_UV").is_some() => {
            panic!("MLPLANE_REQUIRE_UV is set but {e}")
        }
        Err(e) => {
            eprintln!("skipping: {e}");
            None
        }
    }
}

fn builder(root: &Path) -> Option<EnvBuilder> {
    uv().map(|uv| EnvBuilder::new(root.to_path_buf(), uv))
}

fn env(reqs: &[&str]) -> ResolvedEnv {
    ResolvedEnv {
        python: None,
        requirements: reqs.iter().map(|s| s.to_string()).collect(),
        image: None,
    }
}

fn python_ok(built: &BuiltEnv, code: &str) -> bool {
    std::process::Command::new(&built.python)
        .args(["-c", code])
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn builds_an_env_then_reuses_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let Some(b) = builder(root.path()) else {
        return;
    };
    let spec = env(&["six==1.16.0"]);
    let first = b.ensure(&spec).await.expect("builds");
    assert!(!first.reused);
    assert_eq!(first.dir, root.path().join(&first.hash));
    assert_eq!(first.python, first.dir.join("bin/python"));
    assert!(python_ok(
        &first,
        "import six; assert six.__version__ == '1.16.0'"
    ));
    let log = std::fs::read_to_string(&first.build_log).expect("log exists");
    assert!(log.contains("pip install"), "{log}");
    assert!(log.contains("six"), "{log}");
    assert!(first.dir.join(".mlplane-complete").is_file());
    assert!(
        root.path().join(".uv-cache").is_dir(),
        "UV_CACHE_DIR is under the cache root"
    );

    let second = b.ensure(&spec).await.expect("reuses");
    assert!(second.reused);
    assert_eq!(second.dir, first.dir);
    assert!(second.build_secs < 2.0, "reuse took {}s", second.build_secs);
    assert_eq!(b.builds_started(), 1);
}

#[tokio::test]
async fn env_without_requirements_is_a_bare_venv() {
    let root = tempfile::tempdir().expect("tempdir");
    let Some(b) = builder(root.path()) else {
        return;
    };
    let built = b.ensure(&env(&[])).await.expect("builds");
    assert!(python_ok(
        &built,
        "import sys; assert sys.prefix != sys.base_prefix"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ensures_of_one_spec_build_once() {
    let root = tempfile::tempdir().expect("tempdir");
    let Some(uv) = uv() else { return };
    // Two builders on one cache root stand for two processes: they share only the
    // lock file, not the in-process mutex.
    let a = Arc::new(EnvBuilder::new(root.path().to_path_buf(), uv.clone()));
    let b = Arc::new(EnvBuilder::new(root.path().to_path_buf(), uv));
    let spec = env(&["six==1.16.0", "attrs"]);
    let mut tasks = Vec::new();
    for i in 0..4 {
        let builder = if i % 2 == 0 { a.clone() } else { b.clone() };
        let spec = spec.clone();
        tasks.push(tokio::spawn(async move { builder.ensure(&spec).await }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("task").expect("ensure"));
    }
    assert_eq!(
        a.builds_started() + b.builds_started(),
        1,
        "one build in all"
    );
    assert_eq!(results.iter().filter(|r| !r.reused).count(), 1);
    assert!(results.iter().all(|r| r.dir == results[0].dir));
    let log = std::fs::read_to_string(&results[0].build_log).expect("log");
    assert_eq!(log.matches("\n$ ").count(), 2, "venv + install once: {log}");
    assert!(python_ok(&results[0], "import six, attrs"));
}

#[tokio::test]
async fn missing_package_fails_with_log_tail_and_leaves_no_env() {
    let root = tempfile::tempdir().expect("tempdir");
    let Some(b) = builder(root.path()) else {
        return;
    };
    let name = "mlplane-surely-no-such-package-7f3a";
    let err = b
        .ensure(&env(&[&format!("{name}==1.0")]))
        .await
        .expect_err("fails");
    match &err {
        EnvError::Build { hash, log, tail } => {
            assert!(tail.contains(name), "{tail}");
            assert!(log.is_file());
            assert!(
                !root.path().join(hash).exists(),
                "incomplete env dir was removed"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn dir_without_marker_is_rebuilt() {
    let root = tempfile::tempdir().expect("tempdir");
    let Some(b) = builder(root.path()) else {
        return;
    };
    let spec = env(&["six==1.16.0"]);
    let first = b.ensure(&spec).await.expect("builds");
    std::fs::remove_file(first.dir.join(".mlplane-complete")).expect("drop marker");
    std::fs::write(first.dir.join("leftover"), "x").expect("junk");
    let again = b.ensure(&spec).await.expect("rebuilds");
    assert!(!again.reused);
    assert!(!again.dir.join("leftover").exists());
    assert!(python_ok(&again, "import six"));

    // A marker from another spec (a partial write, a collision) does not count either.
    std::fs::write(again.dir.join(".mlplane-complete"), "something else").expect("write");
    assert!(!b.ensure(&spec).await.expect("rebuilds").reused);
    assert_eq!(b.builds_started(), 3);
}

#[tokio::test]
async fn build_timeout_kills_uv_and_reports_the_log() {
    let root = tempfile::tempdir().expect("tempdir");
    let Some(b) = builder(root.path()) else {
        return;
    };
    let b = b.with_timeout(Duration::from_millis(1));
    let err = b
        .ensure(&env(&["six==1.16.0"]))
        .await
        .expect_err("times out");
    match &err {
        EnvError::Build { hash, tail, .. } => {
            assert!(tail.contains("timed out"), "{tail}");
            assert!(!root.path().join(hash).join(".mlplane-complete").exists());
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn image_environment_is_unsupported() {
    let b = EnvBuilder::new("/nonexistent-cache".into(), "/nonexistent-uv".into());
    let spec = ResolvedEnv {
        image: Some("mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04".into()),
        ..env(&[])
    };
    match b.ensure(&spec).await {
        Err(EnvError::Unsupported(m)) => assert!(m.contains("container"), "{m}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn missing_uv_binary_is_a_uv_error() {
    let root = tempfile::tempdir().expect("tempdir");
    let b = EnvBuilder::new(root.path().to_path_buf(), root.path().join("no-uv"));
    match b.ensure(&env(&[])).await {
        Err(EnvError::Uv(m)) => assert!(m.contains("MLPLANE_UV"), "{m}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn dropped_ensure_releases_its_locks_and_the_next_one_builds() {
    let root = tempfile::tempdir().expect("tempdir");
    let Some(b) = builder(root.path()) else {
        return;
    };
    let spec = env(&["six==1.16.0"]);
    // Dropping the future mid-build kills uv and leaves an incomplete directory.
    let cut = tokio::time::timeout(Duration::from_millis(30), b.ensure(&spec)).await;
    let next = tokio::time::timeout(Duration::from_secs(120), b.ensure(&spec))
        .await
        .expect("the dropped build released its locks")
        .expect("builds");
    if cut.is_err() {
        assert!(!next.reused, "an interrupted build is not reused");
    }
    assert!(python_ok(&next, "import six"));
}

#[tokio::test]
async fn explicit_python_version_is_used() {
    let root = tempfile::tempdir().expect("tempdir");
    let Some(b) = builder(root.path()) else {
        return;
    };
    // The version of the python3 on PATH, so uv needs no download.
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .expect("python3 runs");
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let spec = ResolvedEnv {
        python: Some(version.clone()),
        ..env(&[])
    };
    let built = b.ensure(&spec).await.expect("builds");
    let code = format!("import sys; assert '%d.%d' % sys.version_info[:2] == '{version}'");
    assert!(python_ok(&built, &code));
    assert_ne!(built.hash, mlplane_envs::spec_hash(&env(&[])));
}
