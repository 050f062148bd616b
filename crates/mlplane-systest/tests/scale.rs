//! The same binary pointed at PostgreSQL and an S3-protocol server with flags and env vars:
//! the run lifecycle, metrics and artifacts behave exactly as with the embedded defaults,
//! and the data survives a restart.

use mlplane_systest::{S3Server, Server};
use mlplane_systest::{get_json, post_json};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_s3_back_the_server_with_flags_and_env_only() {
    let Ok(pg) = std::env::var("MLPLANE_TEST_PG_URL") else {
        assert!(
            std::env::var("MLPLANE_REQUIRE_PG").as_deref() != Ok("1"),
            "MLPLANE_TEST_PG_URL unset but MLPLANE_REQUIRE_PG=1"
        );
        eprintln!("skipping: MLPLANE_TEST_PG_URL not set");
        return;
    };
    let Some(s3) = S3Server::start() else { return };
    let data = tempfile::tempdir().unwrap();
    let args = [
        "--database-url",
        pg.as_str(),
        "--artifacts-uri",
        "s3://mlplane/scale-test",
    ];
    let server = Server::start_with_env(data.path(), &args, &s3.env());
    let c = mlplane_systest::client();
    let api = server.api();
    let name = format!("scale-{}", std::process::id());
    let e = post_json(&c, &format!("{api}/experiments"), &json!({"name": name})).await;
    let exp = e["experiment_id"]
        .as_str()
        .expect("experiment id")
        .to_string();
    let r = post_json(&c, &format!("{api}/runs"), &json!({"experiment_id": exp})).await;
    let run = r["info"]["run_id"].as_str().unwrap().to_string();
    let metrics: Vec<Value> = (0..1000)
        .map(|i| json!({"key": "loss", "value": 1.0 / (i as f64 + 1.0), "step": i}))
        .collect();
    let resp = c
        .post(format!("{api}/runs/{run}/batch"))
        .json(&json!({"metrics": metrics}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let resp = c
        .post(format!("{api}/runs/{run}/params"))
        .json(&json!({"key": "lr", "value": "0.1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let data_bytes: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let sha = hex::encode(Sha256::digest(&data_bytes));
    let up = c
        .put(format!("{api}/runs/{run}/artifacts/model/big.bin"))
        .body(data_bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(up.status().as_u16(), 201);
    // The bytes really are in the S3 server's storage.
    let on_disk = walk(s3.dir.path())
        .into_iter()
        .any(|p| p.ends_with("model/big.bin"));
    assert!(on_disk, "artifact not found in the S3 server's directory");
    assert!(server.terminate(Duration::from_secs(20)));

    let server = Server::start_with_env(data.path(), &args, &s3.env());
    let api = server.api();
    let r = get_json(&c, &format!("{api}/runs/{run}")).await;
    assert_eq!(r["data"]["params"], json!([{"key": "lr", "value": "0.1"}]));
    assert_eq!(r["data"]["metrics"][0]["step"], 999);
    let h = get_json(
        &c,
        &format!("{api}/runs/{run}/metric-history/sampled?key=loss&max_points=100"),
    )
    .await;
    assert_eq!(h["total_points"], 1000);
    assert!(h["points"].as_array().unwrap().len() <= 100);
    let back = c
        .get(format!("{api}/runs/{run}/artifacts/model/big.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(back.headers()["x-mlplane-sha256"].to_str().unwrap(), sha);
    let body = back.bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&body)), sha);
    let ready = c
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .unwrap();
    assert!(ready.status().is_success());
    assert!(server.terminate(Duration::from_secs(20)));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
