//! Code snapshots end to end through the real binary: `mlplane job create -f job.yml`
//! packs the spec's `code` folder (a git repository with ignore files), uploads it, and the
//! server's executor runs the command inside the extracted snapshot; ignored files are not
//! there, a second submission of the same tree reuses the stored snapshot, the git state is
//! on the job's run, and a tampered upload is refused.
//!
//! Needs uv (`MLPLANE_UV`) for the job's environment and `git`; without uv the test prints a
//! notice and returns, unless `MLPLANE_REQUIRE_UV` is set.

use mlplane_systest::{Server, cli, client, get_json, uv_available, wait_job};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("a parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

const TRAIN: &str = "import os
from lib.helper import greeting
print(greeting())
found = sorted(os.path.join(d, f)[2:] for d, _, fs in os.walk('.') for f in fs)
print('files:', ' '.join(found))
print('cwd-is-code:', os.path.basename(os.getcwd()))
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_from_its_code_snapshot_with_git_tags_and_reuses_it() {
    if !uv_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), &["--job-slots", "2"]);
    let api = server.api();
    let c = client();

    let repo = dir.path().join("repo");
    write(
        &repo,
        "project/job.yml",
        "command: python train.py\ncode: ./src\nenvironment:\n  pip: []\nexperiment_name: code-snapshots\n",
    );
    write(&repo, "project/src/train.py", TRAIN);
    write(&repo, "project/src/lib/__init__.py", "");
    write(
        &repo,
        "project/src/lib/helper.py",
        "def greeting():\n    return 'hello from the snapshot'\n",
    );
    write(&repo, "project/src/.gitignore", "*.tmp\n__pycache__/\n");
    write(&repo, "project/src/.amlignore", "secret.txt\n");
    write(&repo, "project/src/scratch.tmp", "ignored by .gitignore");
    write(&repo, "project/src/secret.txt", "ignored by .amlignore");
    git(&repo, &["init", "-q", "-b", "main"]);
    git(
        &repo,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "add",
            ".",
        ],
    );
    git(
        &repo,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "-m",
            "init",
        ],
    );
    git(
        &repo,
        &[
            "remote",
            "add",
            "origin",
            "https://someone:s3cret-token@example.com/org/repo.git",
        ],
    );
    let commit = git(&repo, &["rev-parse", "HEAD"]);
    // An untracked file makes the working tree dirty.
    write(&repo, "notes.md", "wip");

    let spec = repo.join("project/job.yml");
    let spec = spec.to_str().expect("utf-8 path");
    let (code, out, err) = cli(&server.url, &["job", "create", "-f", spec, "--stream"], &[]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("uploaded"), "{err}");
    assert!(out.contains("hello from the snapshot"), "{out}");
    assert!(out.contains("cwd-is-code: code"), "{out}");
    let files_line = out
        .lines()
        .find(|l| l.starts_with("files:"))
        .unwrap_or_else(|| panic!("no file listing in {out}"));
    for present in ["train.py", "lib/helper.py", ".gitignore", ".amlignore"] {
        assert!(
            files_line.split(' ').any(|f| f == present),
            "{present} missing: {files_line}"
        );
    }
    for absent in ["scratch.tmp", "secret.txt", "job.yml"] {
        assert!(
            !files_line.contains(absent),
            "{absent} present: {files_line}"
        );
    }

    // The same tree again: the snapshot is already stored and is reused.
    let (code2, out2, err2) = cli(
        &server.url,
        &["-o", "json", "job", "create", "-f", spec],
        &[],
    );
    assert_eq!(code2, 0, "{out2}\n{err2}");
    let second: Value = serde_json::from_str(&out2).expect("json job");
    let done = wait_job(
        &c,
        &format!("{api}/jobs/{}", second["name"].as_str().expect("name")),
        None,
    )
    .await;
    assert_eq!(done["status"], "Completed", "{done}");

    let jobs = get_json(&c, &format!("{api}/jobs")).await;
    let items = jobs["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    let mut ids = Vec::new();
    for j in items {
        let run = get_json(
            &c,
            &format!("{api}/runs/{}", j["run_id"].as_str().expect("run")),
        )
        .await;
        let tags: BTreeMap<String, String> = run["data"]["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|t| {
                (
                    t["key"].as_str().unwrap_or("").into(),
                    t["value"].as_str().unwrap_or("").into(),
                )
            })
            .collect();
        assert_eq!(tags["mlflow.source.git.commit"], commit, "{tags:?}");
        assert_eq!(tags["mlflow.source.git.branch"], "main");
        assert_eq!(
            tags["mlflow.source.git.repoURL"],
            "https://example.com/org/repo.git"
        );
        assert_eq!(tags["mlplane.source.git.dirty"], "true");
        ids.push(tags["mlplane.code.snapshot"].clone());
    }
    assert_eq!(ids[0], ids[1], "the same tree gives the same snapshot");
    let listing = get_json(&c, &format!("{api}/snapshots/{}", ids[0])).await;
    assert!(
        listing["files"]
            .as_array()
            .expect("files")
            .iter()
            .any(|f| f["path"] == "lib/helper.py")
    );

    // A tampered upload: bytes that do not hash to the id in the URL.
    let resp = c
        .put(format!("{api}/snapshots/{}", "0".repeat(64)))
        .body(b"not the archive you named".to_vec())
        .send()
        .await
        .expect("PUT sent");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.expect("error body");
    assert_eq!(body["code"], "snapshot_mismatch", "{body}");
    let head = c
        .head(format!("{api}/snapshots/{}", "0".repeat(64)))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status().as_u16(), 404);

    // `code` may not leave the spec's folder, not even through a link.
    std::os::unix::fs::symlink(dir.path(), repo.join("project/out")).expect("symlink");
    write(
        &repo,
        "project/escape.yml",
        "command: ls\ncode: out\nenvironment:\n  pip: []\n",
    );
    let escape = repo.join("project/escape.yml");
    let (code3, _, err3) = cli(
        &server.url,
        &["job", "create", "-f", escape.to_str().expect("utf-8")],
        &[],
    );
    assert_ne!(code3, 0);
    assert!(
        err3.contains("escape.yml") && err3.contains("outside the spec file's folder"),
        "{err3}"
    );
    let jobs = get_json(&c, &format!("{api}/jobs")).await;
    assert_eq!(
        jobs["items"].as_array().expect("items").len(),
        2,
        "nothing new was submitted"
    );
    drop(server);
}
