//! `/api/v1/workspaces/{ws}/snapshots/{sha256}` and jobs naming `code`: content-addressed
//! uploads (hash checked, idempotent, hostile archives refused), listings and files, and
//! the snapshot and git tags a job submission records.

use crate::support::{TestApp, WS, assert_error};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Packs a folder holding `files` with the real packer; returns (sha256, archive bytes).
pub fn packed(files: &[(&str, &str)]) -> (String, Vec<u8>) {
    let dir = tempfile::tempdir().expect("tmp");
    for (p, text) in files {
        let at = dir.path().join(p);
        std::fs::create_dir_all(at.parent().expect("parent")).expect("mkdir");
        std::fs::write(at, text).expect("write");
    }
    let mut buf = Vec::new();
    let s = mlplane_snapshot::pack(dir.path(), &mlplane_snapshot::Limits::DEFAULT, &mut buf)
        .expect("pack");
    (s.id.to_string(), buf)
}

/// Uploads a snapshot of `files`; returns its id.
pub async fn upload(t: &TestApp, files: &[(&str, &str)]) -> String {
    let (id, bytes) = packed(files);
    let (s, out) = t
        .raw("PUT", &format!("{WS}/snapshots/{id}"), None, bytes)
        .await;
    assert_eq!(s.as_u16(), 201, "{}", String::from_utf8_lossy(&out));
    id
}

fn body(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_snapshot_is_stored_once_listed_and_its_files_served() {
    let t = TestApp::new().await;
    let (id, bytes) = packed(&[("train.py", "print(1)"), ("pkg/m.py", "x = 2")]);
    let url = format!("{WS}/snapshots/{id}");
    let (s, _) = t.raw("HEAD", &url, None, vec![]).await;
    assert_eq!(s.as_u16(), 404);
    let (s, out) = t.raw("PUT", &url, None, bytes.clone()).await;
    assert_eq!(s.as_u16(), 201, "{}", String::from_utf8_lossy(&out));
    let v = body(&out);
    assert_eq!(v["sha256"], id);
    assert_eq!(v["size"], bytes.len());
    let paths: Vec<&str> = v["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    assert_eq!(paths, vec!["pkg", "pkg/m.py", "train.py"]);
    // Idempotent: the same bytes again are fine and change nothing.
    let (s, out) = t.raw("PUT", &url, None, bytes.clone()).await;
    assert_eq!(s.as_u16(), 200, "{}", String::from_utf8_lossy(&out));
    let req = axum::http::Request::builder()
        .method("HEAD")
        .uri(&url)
        .body(axum::body::Body::empty())
        .expect("request");
    let (s, headers, _) = t.send(req).await;
    assert_eq!(s.as_u16(), 200);
    assert_eq!(headers["content-length"], bytes.len().to_string().as_str());
    assert_eq!(t.ok("GET", &url, None).await, v);
    let (s, out) = t
        .raw("GET", &format!("{url}/files/pkg/m.py"), None, vec![])
        .await;
    assert_eq!((s.as_u16(), out.as_slice()), (200, &b"x = 2"[..]));
    let (s, out) = t
        .raw("GET", &format!("{url}/files/nope.py"), None, vec![])
        .await;
    assert_error(s, &body(&out), 404, "artifact_not_found");
    let (s, out) = t
        .raw(
            "GET",
            &format!("{url}/files/..%2F..%2Fetc%2Fpasswd"),
            None,
            vec![],
        )
        .await;
    assert_error(s, &body(&out), 400, "invalid_snapshot");
    // Another workspace does not see it.
    t.ok("POST", "/api/v1/workspaces", Some(json!({"name": "other"})))
        .await;
    let (s, out) = t
        .raw(
            "GET",
            &format!("/api/v1/workspaces/other/snapshots/{id}"),
            None,
            vec![],
        )
        .await;
    assert_error(s, &body(&out), 404, "snapshot_not_found");
}

#[tokio::test]
async fn a_tampered_or_hostile_upload_is_refused_and_stores_nothing() {
    let t = TestApp::new().await;
    let (id, mut bytes) = packed(&[("a.py", "a")]);
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    let url = format!("{WS}/snapshots/{id}");
    let (s, out) = t.raw("PUT", &url, None, bytes).await;
    let v = body(&out);
    assert_error(s, &v, 400, "snapshot_mismatch");
    assert_eq!(v["details"]["expected"], id);
    let (s, _) = t.raw("HEAD", &url, None, vec![]).await;
    assert_eq!(s.as_u16(), 404);

    // The bytes match their id but the archive climbs out with `../x`.
    let mut evil = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().expect("gnu").name[..4].copy_from_slice(b"../x");
    h.set_size(4);
    h.set_mode(0o644);
    h.set_cksum();
    evil.append(&h, &b"evil"[..]).expect("append");
    let evil = evil.into_inner().expect("tar");
    let evil_id = hex::encode(Sha256::digest(&evil));
    let url = format!("{WS}/snapshots/{evil_id}");
    let (s, out) = t.raw("PUT", &url, None, evil).await;
    let v = body(&out);
    assert_error(s, &v, 400, "invalid_snapshot");
    assert!(
        v["message"].as_str().expect("message").contains("../x"),
        "{v}"
    );
    let (s, _) = t.raw("HEAD", &url, None, vec![]).await;
    assert_eq!(s.as_u16(), 404);

    let (s, out) = t
        .raw("PUT", &format!("{WS}/snapshots/not-a-hash"), None, vec![1])
        .await;
    assert_error(s, &body(&out), 400, "invalid_parameter");
}

const JOB: &str = "command: python train.py\ncode: ./src\nenvironment: {pip: [six]}\n";

#[tokio::test]
async fn a_job_with_code_records_its_snapshot_and_git_state_as_tags() {
    let t = TestApp::new().await;
    let id = upload(&t, &[("train.py", "print(1)")]).await;
    let j = t
        .ok(
            "POST",
            &format!("{WS}/jobs"),
            Some(json!({
                "yaml": JOB,
                "code_snapshot": {"sha256": id, "git": {
                    "commit": "0123abc", "branch": "main", "dirty": true,
                    "repo_url": "https://user:secret@example.com/org/repo.git"}}
            })),
        )
        .await;
    assert_eq!(j["spec"]["code"], "./src");
    assert!(
        j["tags"]
            .as_array()
            .expect("tags")
            .contains(&json!({"key": "mlplane.code.snapshot", "value": id}))
    );
    let run = t
        .ok(
            "GET",
            &format!("{WS}/runs/{}", j["run_id"].as_str().expect("run id")),
            None,
        )
        .await;
    let tags: std::collections::BTreeMap<String, String> = run["data"]["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap().to_string(),
                t["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(tags["mlplane.code.snapshot"], id);
    assert_eq!(tags["mlflow.source.git.commit"], "0123abc");
    assert_eq!(tags["mlflow.source.git.branch"], "main");
    assert_eq!(
        tags["mlflow.source.git.repoURL"],
        "https://example.com/org/repo.git"
    );
    assert_eq!(tags["mlplane.source.git.dirty"], "true");
}

#[tokio::test]
async fn code_without_a_stored_snapshot_is_refused_and_stores_no_job() {
    let t = TestApp::new().await;
    let jobs = format!("{WS}/jobs");
    let (s, b) = t.call("POST", &jobs, Some(json!({"yaml": JOB}))).await;
    assert_error(s, &b, 400, "invalid_spec");
    assert_eq!(b["details"]["errors"][0]["field"], "code");
    assert_eq!(b["details"]["errors"][0]["line"], 2);
    let unknown = "ab".repeat(32);
    let (s, b) = t
        .call(
            "POST",
            &jobs,
            Some(json!({"yaml": JOB, "code_snapshot": {"sha256": unknown}})),
        )
        .await;
    assert_error(s, &b, 404, "snapshot_not_found");
    let (s, b) = t
        .call(
            "POST",
            &jobs,
            Some(json!({"yaml": JOB, "code_snapshot": {"sha256": "xyz"}})),
        )
        .await;
    assert_error(s, &b, 400, "invalid_parameter");
    let id = upload(&t, &[("a.py", "a")]).await;
    let no_code = "command: echo\nenvironment: {pip: [six]}\n";
    let (s, b) = t
        .call(
            "POST",
            &jobs,
            Some(json!({"yaml": no_code, "code_snapshot": {"sha256": id}})),
        )
        .await;
    assert_error(s, &b, 400, "bad_request");
    let spoofed = format!("{JOB}tags: {{mlplane.code.snapshot: {id}}}\n");
    let (s, b) = t
        .call(
            "POST",
            &jobs,
            Some(json!({"yaml": spoofed, "code_snapshot": {"sha256": id}})),
        )
        .await;
    assert_error(s, &b, 400, "invalid_spec");
    let l = t.ok("GET", &jobs, None).await;
    assert_eq!(l["items"], json!([]));
}
