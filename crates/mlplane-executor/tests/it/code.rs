//! Jobs with `code`: the snapshot named by the job's tag is fetched, verified and extracted
//! into `<job>/code`, the command's working folder; a missing, corrupt or hostile snapshot
//! fails the job with a message naming it.

use crate::harness::{Bench, bench, spec, uv_available};
use mlplane_artifacts::ArtifactKey;
use mlplane_core::snapshot::TAG_SNAPSHOT;
use mlplane_core::{Job, JobStatus, SnapshotId, Tag};
use sha2::{Digest, Sha256};

async fn store(b: &Bench, bytes: Vec<u8>, id: &str) {
    let key = ArtifactKey::snapshot(b.ws.clone(), SnapshotId::parse(id).expect("id"));
    let body = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(bytes))]);
    b.artifacts()
        .put_stream(&key, body, 1 << 30)
        .await
        .expect("stored");
}

async fn submit(b: &Bench, name: &str, command: &str, id: &str) -> Job {
    let mut s = spec(command);
    s["code"] = "./src".into();
    let tag = Tag {
        key: TAG_SNAPSHOT.into(),
        value: id.into(),
    };
    b.submit_tagged(name, s, vec![tag]).await
}

async fn ended(b: &Bench, job: &Job) -> (Job, String) {
    let exec = b.start(1);
    let j = b.wait_terminal(job).await;
    let log = b.log(job).await;
    exec.shutdown().await;
    (j, log)
}

#[tokio::test]
async fn a_job_runs_inside_its_extracted_snapshot() {
    if !uv_available() {
        return;
    }
    let b = bench().await;
    let src = tempfile::tempdir().expect("tmp");
    std::fs::write(src.path().join("run.sh"), "echo from-snapshot; pwd").expect("write");
    let mut bytes = Vec::new();
    let packed = mlplane_snapshot::pack(src.path(), &Default::default(), &mut bytes).expect("pack");
    store(&b, bytes, packed.id.as_str()).await;
    let job = submit(&b, "code1", "sh run.sh", packed.id.as_str()).await;
    let (j, log) = ended(&b, &job).await;
    assert_eq!(
        j.status,
        JobStatus::Completed,
        "{:?}\n{log}",
        j.status_message
    );
    assert!(log.contains("from-snapshot\n"), "{log}");
    assert!(log.contains("/code1/code\n"), "{log}");
}

#[tokio::test]
async fn a_missing_corrupt_or_hostile_snapshot_fails_the_job() {
    if !uv_available() {
        return;
    }
    let b = bench().await;
    let missing = "ab".repeat(32);
    let job = submit(&b, "missing1", "true", &missing).await;
    let (j, _) = ended(&b, &job).await;
    assert_eq!(j.status, JobStatus::Failed);
    let msg = j.status_message.unwrap_or_default();
    assert!(msg.contains(&missing) && msg.contains("missing"), "{msg}");

    let corrupt = "cd".repeat(32);
    store(&b, b"these bytes do not hash to the id".to_vec(), &corrupt).await;
    let job = submit(&b, "corrupt1", "true", &corrupt).await;
    let (j, _) = ended(&b, &job).await;
    let msg = j.status_message.unwrap_or_default();
    assert_eq!(j.status, JobStatus::Failed);
    assert!(msg.contains(&corrupt) && msg.contains("corrupt"), "{msg}");

    // Bytes that match their id, but the archive climbs out of the folder.
    let mut evil = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().expect("gnu").name[..7].copy_from_slice(b"../../x");
    h.set_size(4);
    h.set_mode(0o644);
    h.set_cksum();
    evil.append(&h, &b"evil"[..]).expect("append");
    let evil = evil.into_inner().expect("tar");
    let id = hex::encode(Sha256::digest(&evil));
    store(&b, evil, &id).await;
    let job = submit(&b, "evil1", "true", &id).await;
    let (j, _) = ended(&b, &job).await;
    let msg = j.status_message.unwrap_or_default();
    assert_eq!(j.status, JobStatus::Failed);
    assert!(
        msg.contains("cannot be extracted") && msg.contains("'..'"),
        "{msg}"
    );
    let work = b.dir.path().join("work");
    assert!(!work.join("x").exists() && !work.join("default/x").exists());
}
