//! Crash durability: 16 concurrent writers log metrics and upload artifacts while the server
//! is killed with SIGKILL; after a restart every acknowledged write is present, no artifact
//! is partial or corrupt, and the server starts cleanly. Repeated 10 times on one data dir.

use mlplane_systest::Server;
use mlplane_systest::{get_json, post_json};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WRITERS: usize = 16;
const ROUNDS: usize = 10;

#[derive(Default)]
struct Acked {
    /// run id -> steps of metric `m` acknowledged with 2xx.
    steps: BTreeMap<String, BTreeSet<i64>>,
    /// (run id, path) -> sha256 of an acknowledged upload.
    files: BTreeMap<(String, String), String>,
}

async fn create_run(c: &reqwest::Client, api: &str) -> String {
    let r = post_json(c, &format!("{api}/runs"), &json!({})).await;
    r["info"]["run_id"].as_str().unwrap().to_string()
}

async fn writer(
    c: reqwest::Client,
    api: String,
    run: String,
    round: usize,
    w: usize,
    acked: Arc<Mutex<Acked>>,
) {
    let mut rng = rand::rngs::StdRng::seed_from_u64((round * 100 + w) as u64);
    for i in 0.. {
        if w.is_multiple_of(4) {
            // Artifact writer: 64 KiB - 3 MiB files.
            let len = rng.random_range(64 * 1024..3 * 1024 * 1024);
            let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            let sha = hex::encode(Sha256::digest(&data));
            let path = format!("r{round}/f{i}.bin");
            match c
                .put(format!("{api}/runs/{run}/artifacts/{path}"))
                .body(data)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => {
                    acked.lock().unwrap().files.insert((run.clone(), path), sha);
                }
                _ => return,
            }
        } else {
            let base = (round as i64) * 1_000_000 + i * 100;
            let metrics: Vec<Value> = (0..100).map(|k| json!({"key": "m", "value": (base + k) as f64, "step": base + k, "timestamp": 1})).collect();
            match c
                .post(format!("{api}/runs/{run}/batch"))
                .json(&json!({"metrics": metrics}))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => {
                    acked
                        .lock()
                        .unwrap()
                        .steps
                        .entry(run.clone())
                        .or_default()
                        .extend(base..base + 100);
                }
                _ => return,
            }
        }
    }
}

async fn all_steps(c: &reqwest::Client, api: &str, run: &str) -> BTreeSet<i64> {
    let mut out = BTreeSet::new();
    let mut token: Option<String> = None;
    loop {
        let mut url = format!("{api}/runs/{run}/metric-history?key=m&max_results=100000");
        if let Some(t) = &token {
            url.push_str(&format!("&page_token={t}"));
        }
        let r = c.get(url).send().await.unwrap();
        if r.status() == 404 {
            return out;
        }
        let v: Value = r.json().await.unwrap();
        for p in v["points"].as_array().unwrap() {
            out.insert(p["step"].as_i64().unwrap());
        }
        match v["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => return out,
        }
    }
}

async fn verify(c: &reqwest::Client, api: &str, acked: &Acked) {
    for (run, steps) in &acked.steps {
        let have = all_steps(c, api, run).await;
        let missing: Vec<_> = steps.difference(&have).take(5).collect();
        assert!(
            missing.is_empty(),
            "run {run}: acknowledged steps lost, e.g. {missing:?}"
        );
    }
    for ((run, path), sha) in &acked.files {
        let r = c
            .get(format!("{api}/runs/{run}/artifacts/{path}"))
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "acknowledged artifact {run}/{path} missing: {}",
            r.status()
        );
        let body = r.bytes().await.unwrap();
        assert_eq!(
            &hex::encode(Sha256::digest(&body)),
            sha,
            "artifact {run}/{path} corrupt"
        );
    }
    // Every artifact the server lists is whole: its bytes match its recorded sha256.
    let runs: BTreeSet<&String> = acked.files.keys().map(|(r, _)| r).collect();
    for run in runs {
        let mut dirs = vec![String::new()];
        while let Some(d) = dirs.pop() {
            let l = get_json(c, &format!("{api}/runs/{run}/artifact-list?path={d}")).await;
            for f in l["files"].as_array().unwrap() {
                let path = f["path"].as_str().unwrap();
                let body = c
                    .get(format!("{api}/runs/{run}/artifacts/{path}"))
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                assert_eq!(
                    body.len() as u64,
                    f["size"].as_u64().unwrap(),
                    "{path} partial"
                );
                assert_eq!(
                    hex::encode(Sha256::digest(&body)),
                    f["sha256"].as_str().unwrap(),
                    "{path} corrupt"
                );
            }
            for sub in l["dirs"].as_array().unwrap() {
                let s = sub.as_str().unwrap();
                dirs.push(if d.is_empty() {
                    s.to_string()
                } else {
                    format!("{d}/{s}")
                });
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9_ten_times() {
    let dir = tempfile::tempdir().unwrap();
    let c = mlplane_systest::client();
    let acked = Arc::new(Mutex::new(Acked::default()));
    for round in 0..ROUNDS {
        let server = Server::start(dir.path(), &[]);
        let api = server.api();
        // The server starts cleanly and everything acknowledged before is there.
        let ready = c
            .get(format!("{}/readyz", server.url))
            .send()
            .await
            .unwrap();
        assert!(
            ready.status().is_success(),
            "round {round}: not ready after restart"
        );
        let snapshot = std::mem::take(&mut *acked.lock().unwrap());
        verify(&c, &api, &snapshot).await;
        *acked.lock().unwrap() = snapshot;

        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let run = create_run(&c, &api).await;
            tasks.push(tokio::spawn(writer(
                c.clone(),
                api.clone(),
                run,
                round,
                w,
                acked.clone(),
            )));
        }
        let delay = rand::rng().random_range(400..1200);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server.kill_hard();
        for t in tasks {
            let _ = t.await;
        }
    }
    let server = Server::start(dir.path(), &[]);
    let snapshot = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        snapshot.steps.values().map(|s| s.len()).sum::<usize>() > 10_000,
        "too few writes acknowledged to mean anything"
    );
    assert!(
        !snapshot.files.is_empty(),
        "no artifact upload was acknowledged"
    );
    verify(&c, &server.api(), &snapshot).await;
    assert!(
        server.terminate(Duration::from_secs(20)),
        "graceful shutdown failed"
    );
}
