//! Multipart uploads through the MLflow artifact proxy, driven the way the MLflow client
//! does: `mpu/create/{dir}` with the local file in `path`, one `PUT` per credential URL,
//! `mpu/complete` with the returned etags; plus missing parts, wrong etags, path mismatches,
//! unknown uploads and abort.

use crate::support::{TestApp, assert_mlflow_error};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const MPU: &str = "/api/2.0/mlflow-artifacts/mpu";
const PROXY: &str = "/api/2.0/mlflow-artifacts/artifacts";

/// A run's proxy root: `default/{exp}/{run}/artifacts`.
async fn root(app: &TestApp) -> String {
    let (exp, run) = app.run().await;
    format!("default/{exp}/{run}/artifacts")
}

async fn post(app: &TestApp, uri: &str, body: Value) -> (StatusCode, Value) {
    let req = Request::builder()
        .method("POST")
        .uri(uri)
        .header("host", "mlplane.test:5000")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let (s, _, out) = app.send(req).await;
    (s, serde_json::from_slice(&out).unwrap_or(Value::Null))
}

/// The client's local file; the server keeps its base name.
const LOCAL: &str = "/home/me/file.bin";

/// Creates an upload of `n` parts of `LOCAL` into `dir`; returns (upload id, part URLs as
/// paths).
async fn create(app: &TestApp, dir: &str, n: usize) -> (String, Vec<String>) {
    let (s, v) = post(
        app,
        &format!("{MPU}/create/{dir}"),
        json!({"path": LOCAL, "num_parts": n}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let id = v["upload_id"].as_str().expect("upload id").to_string();
    let creds = v["credentials"].as_array().expect("credentials");
    assert_eq!(creds.len(), n);
    let urls = creds
        .iter()
        .enumerate()
        .map(|(i, c)| {
            assert_eq!(c["part_number"], i + 1);
            let url = c["url"].as_str().expect("url");
            url.strip_prefix("http://mlplane.test:5000")
                .unwrap_or_else(|| panic!("part url {url} points elsewhere"))
                .to_string()
        })
        .collect();
    (id, urls)
}

/// PUTs one part; returns its ETag header.
async fn put_part(app: &TestApp, url: &str, data: &[u8]) -> String {
    let req = Request::builder()
        .method("PUT")
        .uri(url)
        .body(Body::from(data.to_vec()))
        .expect("request");
    let (s, headers, out) = app.send(req).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&out));
    headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("an ETag header")
        .to_string()
}

fn parts(etags: &[String], urls: &[String]) -> Value {
    Value::Array(
        etags
            .iter()
            .zip(urls)
            .enumerate()
            .map(|(i, (e, u))| json!({"part_number": i + 1, "etag": e, "url": u}))
            .collect(),
    )
}

fn chunks() -> Vec<Vec<u8>> {
    (0..3u8)
        .map(|i| (0..200_000u32).map(|j| (j % 251) as u8 ^ i).collect())
        .collect()
}

#[tokio::test]
async fn three_parts_become_one_file() {
    let app = TestApp::new().await;
    let root = root(&app).await;
    let dir = format!("{root}/big");
    let (id, urls) = create(&app, &dir, 3).await;
    let data = chunks();
    // Out of order, as concurrent clients do.
    let mut etags = vec![String::new(); 3];
    for i in [2, 0, 1] {
        etags[i] = put_part(&app, &urls[i], &data[i]).await;
        assert_eq!(
            etags[i].trim_matches('"'),
            hex::encode(Sha256::digest(&data[i]))
        );
    }
    let (s, v) = post(
        &app,
        &format!("{MPU}/complete/{dir}"),
        json!({"path": LOCAL, "upload_id": id, "parts": parts(&etags, &urls)}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, got) = app
        .raw("GET", &format!("{PROXY}/{dir}/file.bin"), None, vec![])
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got, data.concat());
    // The upload is gone once completed.
    let (s, v) = post(
        &app,
        &format!("{MPU}/abort/{dir}"),
        json!({"path": LOCAL, "upload_id": id}),
    )
    .await;
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
}

#[tokio::test]
async fn missing_parts_and_wrong_etags_are_refused() {
    let app = TestApp::new().await;
    let path = root(&app).await;
    let (id, urls) = create(&app, &path, 3).await;
    let data = chunks();
    let mut etags = Vec::new();
    for i in 0..2 {
        etags.push(put_part(&app, &urls[i], &data[i]).await);
    }
    etags.push("\"0000\"".into());
    let complete =
        |etags: &[String]| json!({"path": LOCAL, "upload_id": id, "parts": parts(etags, &urls)});
    // Part 3 was never uploaded.
    let (s, v) = post(&app, &format!("{MPU}/complete/{path}"), complete(&etags)).await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    assert!(
        v["message"].as_str().unwrap_or("").contains("not uploaded"),
        "{v}"
    );
    // Part 3 is not listed.
    let (s, v) = post(
        &app,
        &format!("{MPU}/complete/{path}"),
        complete(&etags[..2]),
    )
    .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    // A wrong etag.
    etags[2] = put_part(&app, &urls[2], &data[2]).await;
    let mut wrong = etags.clone();
    wrong[1] = etags[0].clone();
    let (s, v) = post(&app, &format!("{MPU}/complete/{path}"), complete(&wrong)).await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    assert!(v["message"].as_str().unwrap_or("").contains("etag"), "{v}");
    // Another directory, or another file name, than the upload was created for.
    let (s, v) = post(
        &app,
        &format!("{MPU}/complete/{path}/sub"),
        complete(&etags),
    )
    .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    let mut renamed = complete(&etags);
    renamed["path"] = json!("/home/me/other.bin");
    let (s, v) = post(&app, &format!("{MPU}/complete/{path}"), renamed).await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    assert!(
        v["message"].as_str().unwrap_or("").contains("another path"),
        "{v}"
    );
    // Nothing became visible.
    let (s, v) = app
        .call("GET", &format!("{PROXY}/{path}/file.bin"), None)
        .await;
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
    // A part number outside the upload.
    // Only the last segment changes: the upload id may itself contain "/1"-like text.
    let bad = format!("{}/4", urls[0].rsplit_once('/').expect("part url").0);
    let req = Request::builder()
        .method("PUT")
        .uri(bad)
        .body(Body::from("x"))
        .expect("request");
    let (st, _, body) = app.send(req).await;
    assert_eq!(
        st,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&body)
    );
    // With everything right it completes.
    let (s, v) = post(&app, &format!("{MPU}/complete/{path}"), complete(&etags)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn abort_drops_the_parts_and_unknown_uploads_are_not_found() {
    let app = TestApp::new().await;
    let path = root(&app).await;
    let (id, urls) = create(&app, &path, 2).await;
    let etag = put_part(&app, &urls[0], b"hello").await;
    let (s, v) = post(
        &app,
        &format!("{MPU}/abort/{path}"),
        json!({"path": LOCAL, "upload_id": id}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let req = Request::builder()
        .method("PUT")
        .uri(&urls[1])
        .body(Body::from("x"))
        .expect("request");
    let (s, _, out) = app.send(req).await;
    let v: Value = serde_json::from_slice(&out).unwrap_or(Value::Null);
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
    let (s, v) = post(
        &app,
        &format!("{MPU}/complete/{path}"),
        json!({"path": LOCAL, "upload_id": id, "parts": [{"part_number": 1, "etag": etag}]}),
    )
    .await;
    assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
    for bogus in ["0123456789abcdef0123456789abcdef", "../../etc", "ZZ"] {
        let (s, v) = post(
            &app,
            &format!("{MPU}/abort/{path}"),
            json!({"path": LOCAL, "upload_id": bogus}),
        )
        .await;
        assert_mlflow_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST");
    }
    // Hostile directories and file names never reach the staging area.
    for (hostile, local) in [
        (format!("{path}/../../../x"), LOCAL),
        ("default/1/../../etc/passwd".to_string(), LOCAL),
        (format!("{path}%00"), LOCAL),
        (path.clone(), "/home/me/.."),
        (path.clone(), "C:\\x\\.."),
        (path.clone(), ""),
    ] {
        let (s, v) = post(
            &app,
            &format!("{MPU}/create/{hostile}"),
            json!({"path": local, "num_parts": 1}),
        )
        .await;
        assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
    }
    let (s, v) = post(
        &app,
        &format!("{MPU}/create/{path}"),
        json!({"path": LOCAL, "num_parts": 10_001}),
    )
    .await;
    assert_mlflow_error(s, &v, 400, "INVALID_PARAMETER_VALUE");
}
