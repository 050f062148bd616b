//! Graceful shutdown: on SIGTERM the server finishes in-flight requests, closes the store
//! cleanly, and exits with status 0.

use mlplane_systest::Server;
use mlplane_systest::post_json;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_upload_finish_then_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let api = server.api();
    let c = mlplane_systest::client();
    let r = post_json(&c, &format!("{api}/runs"), &json!({})).await;
    let run = r["info"]["run_id"].as_str().unwrap().to_string();

    // A slow upload: 20 chunks of 64 KiB, 50 ms apart (about one second in flight).
    let chunks = futures::stream::unfold(0u32, |i| async move {
        if i == 20 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        Some((
            Ok::<_, std::io::Error>(bytes::Bytes::from(vec![i as u8; 64 * 1024])),
            i + 1,
        ))
    });
    let url = format!("{api}/runs/{run}/artifacts/slow.bin");
    let upload = tokio::spawn({
        let c = c.clone();
        async move {
            c.put(url)
                .body(reqwest::Body::wrap_stream(chunks))
                .send()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let exited_ok = tokio::task::spawn_blocking(move || server.terminate(Duration::from_secs(20)))
        .await
        .unwrap();
    let resp = upload
        .await
        .unwrap()
        .expect("in-flight upload must complete");
    assert_eq!(resp.status().as_u16(), 201);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["size"], 20 * 64 * 1024);
    assert!(exited_ok, "server must exit 0 after SIGTERM");

    // Restart: the upload is recorded and the data is intact.
    let server = Server::start(dir.path(), &[]);
    let body = c
        .get(format!("{}/runs/{run}/artifacts/slow.bin", server.api()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.len(), 20 * 64 * 1024);
    assert!(server.terminate(Duration::from_secs(20)));
}
