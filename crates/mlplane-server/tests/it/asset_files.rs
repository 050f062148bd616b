//! The files of data and model versions: uploading into a pending version, completing it
//! (after which nothing changes), listing and downloading, hostile paths, versions that name
//! another version, and how jobs refuse pending, archived, unknown and local inputs.

use crate::support::{TestApp, WS, assert_error};
use serde_json::{Value, json};

async fn pending(t: &TestApp, kind: &str, body: Value) -> Value {
    t.ok("POST", &format!("{WS}/{kind}"), Some(body)).await
}

fn err_field<'a>(b: &'a Value, field: &str) -> &'a Value {
    b["details"]["errors"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["field"] == field))
        .unwrap_or_else(|| panic!("no error at {field}: {b}"))
}

#[tokio::test]
async fn files_are_uploaded_completed_listed_and_downloaded() {
    let t = TestApp::new().await;
    let v = pending(&t, "data", json!({"name": "iris", "path": "data"})).await;
    assert_eq!(v["pending_upload"], true);
    let base = format!("{WS}/data/iris/versions/1");
    // Completing with nothing uploaded is refused and changes nothing.
    let (s, b) = t.call("POST", &format!("{base}/complete"), None).await;
    assert_error(s, &b, 400, "bad_request");
    for (path, bytes) in [
        ("iris.csv", &b"a,b\n1,2\n"[..]),
        ("sub/dir/x.bin", &[0u8, 1, 2][..]),
    ] {
        let (s, _) = t
            .raw("PUT", &format!("{base}/files/{path}"), None, bytes.to_vec())
            .await;
        assert_eq!(s.as_u16(), 204);
    }
    let done = t.ok("POST", &format!("{base}/complete"), None).await;
    assert_eq!(done["pending_upload"], false);
    assert_eq!(done["storage_uri"], "mlplane-assets:/default/data/iris/1");
    let files = t.ok("GET", &format!("{base}/files"), None).await;
    assert_eq!(files["items"][0]["path"], "iris.csv");
    assert_eq!(files["items"][0]["size"], 8);
    assert_eq!(files["items"][0]["sha256"].as_str().map(str::len), Some(64));
    assert_eq!(files["items"][1]["path"], "sub/dir/x.bin");
    let (s, bytes) = t
        .raw("GET", &format!("{base}/files/iris.csv"), None, vec![])
        .await;
    assert_eq!(s.as_u16(), 200);
    assert_eq!(bytes, b"a,b\n1,2\n");
    // `latest` works in file routes too.
    let (s, bytes) = t
        .raw(
            "GET",
            &format!("{WS}/data/iris/versions/latest/files/sub/dir/x.bin"),
            None,
            vec![],
        )
        .await;
    assert_eq!((s.as_u16(), bytes), (200, vec![0u8, 1, 2]));
    let (s, _) = t
        .raw("GET", &format!("{base}/files/missing"), None, vec![])
        .await;
    assert_eq!(s.as_u16(), 404);

    // Complete versions are immutable.
    let (s, b) = t
        .raw(
            "PUT",
            &format!("{base}/files/iris.csv"),
            None,
            b"evil".to_vec(),
        )
        .await;
    assert_eq!(s.as_u16(), 409, "{}", String::from_utf8_lossy(&b));
    let (s, b) = t.call("POST", &format!("{base}/complete"), None).await;
    assert_error(s, &b, 409, "invalid_state");
    let (s, bytes) = t
        .raw("GET", &format!("{base}/files/iris.csv"), None, vec![])
        .await;
    assert_eq!((s.as_u16(), bytes), (200, b"a,b\n1,2\n".to_vec()));
}

#[tokio::test]
async fn the_sha256_of_each_file_is_recorded() {
    let t = TestApp::new().await;
    pending(
        &t,
        "models",
        json!({"name": "clf", "type": "custom_model", "path": "m"}),
    )
    .await;
    t.upload_asset("models", "clf", "1", &[("model.pkl", b"abc")])
        .await;
    let files = t
        .ok("GET", &format!("{WS}/models/clf/versions/1/files"), None)
        .await;
    assert_eq!(
        files["items"][0]["sha256"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[tokio::test]
async fn a_uri_file_takes_exactly_one_file() {
    let t = TestApp::new().await;
    pending(
        &t,
        "data",
        json!({"name": "one", "type": "uri_file", "path": "a.csv"}),
    )
    .await;
    let base = format!("{WS}/data/one/versions/1");
    for p in ["a.csv", "b.csv"] {
        let (s, _) = t
            .raw("PUT", &format!("{base}/files/{p}"), None, b"x".to_vec())
            .await;
        assert_eq!(s.as_u16(), 204);
    }
    let (s, b) = t.call("POST", &format!("{base}/complete"), None).await;
    assert_error(s, &b, 400, "bad_request");
    let v = t.ok("GET", &base, None).await;
    assert_eq!(
        v["pending_upload"], true,
        "a refused completion changes nothing"
    );
}

#[tokio::test]
async fn hostile_file_paths_and_kinds_are_refused() {
    let t = TestApp::new().await;
    pending(&t, "data", json!({"name": "d", "path": "x"})).await;
    t.ok(
        "POST",
        &format!("{WS}/environments"),
        Some(json!({"name": "e", "pip": ["six"]})),
    )
    .await;
    let base = format!("{WS}/data/d/versions/1/files");
    for path in [
        "../../../etc/passwd",
        "a/../../b",
        "%2e%2e/x",
        "a//b",
        "a/./b",
        "a\\b",
        "%00x",
    ] {
        let (s, b) = t
            .raw("PUT", &format!("{base}/{path}"), None, b"x".to_vec())
            .await;
        assert!(
            [400, 404].contains(&s.as_u16()),
            "{path}: {s} {}",
            String::from_utf8_lossy(&b)
        );
    }
    let files = t
        .ok("GET", &format!("{WS}/data/d/versions/1/files"), None)
        .await;
    assert_eq!(files["items"], json!([]), "nothing was recorded");
    // Names are checked before they become key components.
    let (s, _) = t
        .raw(
            "PUT",
            &format!("{WS}/data/..%2F..%2Fx/versions/1/files/a"),
            None,
            b"x".to_vec(),
        )
        .await;
    assert_eq!(s.as_u16(), 400);
    // Environments have no files.
    let (s, b) = t
        .raw(
            "PUT",
            &format!("{WS}/environments/e/versions/1/files/a"),
            None,
            b"x".to_vec(),
        )
        .await;
    assert_eq!(s.as_u16(), 409, "{}", String::from_utf8_lossy(&b));
    // Unknown versions.
    let (s, _) = t
        .raw(
            "PUT",
            &format!("{WS}/data/d/versions/9/files/a"),
            None,
            b"x".to_vec(),
        )
        .await;
    assert_eq!(s.as_u16(), 404);
}

#[tokio::test]
async fn a_version_naming_another_takes_its_location_once_complete() {
    let t = TestApp::new().await;
    pending(&t, "data", json!({"name": "raw", "path": "r"})).await;
    // Pending, unknown and remote locations are refused with the field named.
    let (s, b) = t
        .call(
            "POST",
            &format!("{WS}/data"),
            Some(json!({"name": "alias", "path": "azureml:raw:1"})),
        )
        .await;
    assert_error(s, &b, 400, "invalid_spec");
    assert!(
        err_field(&b, "path")["message"]
            .as_str()
            .unwrap()
            .contains("waiting")
    );
    let (s, b) = t
        .call(
            "POST",
            &format!("{WS}/data"),
            Some(json!({"name": "alias", "path": "azureml:nope:1"})),
        )
        .await;
    assert_error(s, &b, 400, "invalid_spec");
    for uri in [
        "http://169.254.169.254/latest",
        "file:///etc/passwd",
        "/etc/passwd",
        "s3://bucket/x",
    ] {
        let (s, b) = t
            .call(
                "POST",
                &format!("{WS}/data"),
                Some(json!({"name": "alias", "path": uri})),
            )
            .await;
        assert_error(s, &b, 400, "invalid_spec");
    }
    t.upload_asset("data", "raw", "1", &[("f.csv", b"1")]).await;
    let v = t
        .ok(
            "POST",
            &format!("{WS}/data"),
            Some(json!({"name": "alias", "path": "azureml:raw@latest"})),
        )
        .await;
    assert_eq!(v["storage_uri"], "mlplane-assets:/default/data/raw/1");
    assert_eq!(v["pending_upload"], false);
}

#[tokio::test]
async fn jobs_refuse_pending_archived_unknown_and_local_inputs_naming_the_input() {
    let t = TestApp::new().await;
    t.ok(
        "POST",
        &format!("{WS}/environments"),
        Some(json!({"name": "e", "pip": ["six"]})),
    )
    .await;
    pending(&t, "data", json!({"name": "iris", "path": "d"})).await;
    let job = |path: &str| {
        json!({
            "command": "cat ${{inputs.training}}",
            "environment": "e:1",
            "inputs": {"training": {"type": "uri_folder", "path": path}},
        })
    };
    let expect = |b: &Value, words: &str| {
        let m = err_field(b, "inputs.training.path")["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(m.contains(words), "{m}");
    };
    let (s, b) = t
        .call("POST", &format!("{WS}/jobs"), Some(job("azureml:iris:1")))
        .await;
    assert_error(s, &b, 400, "invalid_spec");
    expect(&b, "waiting for its files");
    let (s, b) = t
        .call("POST", &format!("{WS}/jobs"), Some(job("iris:7")))
        .await;
    assert_error(s, &b, 400, "invalid_spec");
    expect(&b, "does not exist");
    let (s, b) = t
        .call("POST", &format!("{WS}/jobs"), Some(job("./local/data")))
        .await;
    assert_error(s, &b, 400, "invalid_spec");
    expect(&b, "local path");
    t.upload_asset("data", "iris", "1", &[("iris.csv", b"1")])
        .await;
    t.ok("POST", &format!("{WS}/data/iris/versions/1/archive"), None)
        .await;
    let (s, b) = t
        .call("POST", &format!("{WS}/jobs"), Some(job("iris:1")))
        .await;
    assert_error(s, &b, 400, "invalid_spec");
    expect(&b, "archived");
    let jobs = t.ok("GET", &format!("{WS}/jobs"), None).await;
    assert_eq!(jobs["items"], json!([]), "no refused submission was stored");
    t.ok("POST", &format!("{WS}/data/iris/versions/1/restore"), None)
        .await;
    let j = t
        .ok("POST", &format!("{WS}/jobs"), Some(job("iris@latest")))
        .await;
    assert_eq!(j["spec"]["inputs"]["training"]["asset"], "iris:1");
    let l = t
        .ok("GET", &format!("{WS}/data/iris/versions/1/lineage"), None)
        .await;
    assert_eq!(l["consumers"], json!([j["name"]]));
}
