//! Data inputs and outputs with real files: inputs copied from the artifact store into the
//! job folder and bound, outputs uploaded and registered as versions with lineage, and
//! outputs that try to leave the job folder through symbolic links.

use crate::harness::{Bench, bench, spec, uv_available};
use futures::stream;
use mlplane_artifacts::{ArtifactKey, ArtifactStore, AssetVersionKey};
use mlplane_core::assets::stored_asset_uri;
use mlplane_core::{
    ArtifactPath, AssetFile, AssetKind, AssetVersionRef, IoDirection, JobStatus, NewAsset,
};
use serde_json::json;

fn artifacts(b: &Bench) -> ArtifactStore {
    ArtifactStore::local(&b.dir.path().join("artifacts")).expect("artifact store")
}

/// Registers a complete data version `name:1` holding `files`.
async fn seed(b: &Bench, name: &str, files: &[(&str, &str)]) {
    b.store
        .create_asset(
            &b.ws,
            NewAsset {
                kind: AssetKind::Data,
                name: name.into(),
                version: Some("1".into()),
                description: String::new(),
                tags: vec![],
                spec: r#"{"type":"uri_folder","local_path":"d"}"#.into(),
                storage_uri: None,
                source_job: None,
            },
        )
        .await
        .expect("pending version");
    let owner = AssetVersionKey::new(AssetKind::Data, name, "1").expect("key");
    for (path, text) in files {
        let path = ArtifactPath::parse(path).expect("path");
        let key = ArtifactKey::asset(b.ws.clone(), owner.clone(), path.clone());
        let body = stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(
            text.to_string(),
        ))]);
        let stored = artifacts(b)
            .put_stream(&key, body, 1 << 20)
            .await
            .expect("stored");
        b.store
            .record_asset_file(
                &b.ws,
                AssetKind::Data,
                name,
                "1",
                AssetFile {
                    path,
                    size: stored.size,
                    sha256: stored.sha256,
                },
            )
            .await
            .expect("recorded");
    }
    b.store
        .complete_asset(
            &b.ws,
            AssetKind::Data,
            name,
            "1",
            &stored_asset_uri(&b.ws, AssetKind::Data, name, "1"),
        )
        .await
        .expect("completed");
}

async fn read(b: &Bench, kind: AssetKind, name: &str, version: &str, path: &str) -> String {
    use futures::StreamExt;
    let owner = AssetVersionKey::new(kind, name, version).expect("key");
    let key = ArtifactKey::asset(
        b.ws.clone(),
        owner,
        ArtifactPath::parse(path).expect("path"),
    );
    let (_, mut s) = artifacts(b).get_stream(&key).await.expect("stored file");
    let mut out = Vec::new();
    while let Some(c) = s.next().await {
        out.extend_from_slice(&c.expect("chunk"));
    }
    String::from_utf8(out).expect("utf-8")
}

#[tokio::test]
async fn inputs_are_materialised_and_outputs_registered_with_lineage() {
    if !uv_available() {
        return;
    }
    let b = bench().await;
    seed(
        &b,
        "iris",
        &[("iris.csv", "a,b\n1,2\n"), ("nested/more.txt", "more")],
    )
    .await;
    seed(&b, "single", &[("only.txt", "one file")]).await;
    let mut s = spec(
        "cat ${{inputs.training}}/iris.csv; cat ${{inputs.one}}; echo; echo direct=${{inputs.uri}}; \
         cp ${{inputs.training}}/nested/more.txt ${{outputs.model}}/more.txt && \
         mkdir -p ${{outputs.model}}/sub && echo weights > ${{outputs.model}}/sub/w.bin && \
         echo done > ${{outputs.report}}",
    );
    s["inputs"] = json!({
        "training": {"type": "uri_folder", "asset": "iris:1", "mode": "ro_mount"},
        "one": {"type": "uri_file", "asset": "single:1", "mode": "download"},
        "uri": {"type": "uri_folder", "asset": "iris:1", "mode": "direct"},
    });
    s["outputs"] = json!({
        "model": {"type": "custom_model", "name": "clf", "version": null},
        "report": {"type": "uri_file", "name": null, "version": null},
    });
    let job = b.submit("dataio1", s).await;
    let exec = b.start(1);
    let j = b.wait_terminal(&job).await;
    let log = b.log(&job).await;
    assert_eq!(
        j.status,
        JobStatus::Completed,
        "{:?}\n{log}",
        j.status_message
    );
    assert!(log.contains("a,b\n1,2\n"), "{log}");
    assert!(log.contains("one file\n"), "{log}");
    assert!(
        log.contains("direct=mlplane-assets:/default/data/iris/1\n"),
        "{log}"
    );
    assert!(
        log.contains("registered output 'model' as model clf:1 (2 files"),
        "{log}"
    );

    // ro_mount inputs are read-only on disk.
    let input = b
        .dir
        .path()
        .join("work/default/dataio1/inputs/training/iris.csv");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&input)
        .expect("input file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o222, 0, "{mode:o}");

    let model = b
        .store
        .get_asset(&b.ws, AssetKind::Model, "clf", &AssetVersionRef::Latest)
        .await
        .expect("model output registered");
    assert_eq!(model.version, "1");
    assert_eq!(model.source_job.as_ref(), Some(&job.name));
    assert_eq!(
        model.storage_uri.as_deref(),
        Some("mlplane-assets:/default/model/clf/1")
    );
    let files = b
        .store
        .asset_files(&b.ws, AssetKind::Model, "clf", "1")
        .await
        .expect("files");
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["more.txt", "sub/w.bin"]);
    assert_eq!(
        read(&b, AssetKind::Model, "clf", "1", "sub/w.bin").await,
        "weights\n"
    );

    let report = "azureml_dataio1_output_data_report";
    assert_eq!(
        read(&b, AssetKind::Data, report, "1", "report").await,
        "done\n"
    );

    let io = b.store.job_io(&b.ws, &job.name).await.expect("io");
    let outputs: Vec<_> = io
        .iter()
        .filter(|x| x.direction == IoDirection::Output)
        .map(|x| x.asset.clone().map(|(k, n, v)| format!("{k}:{n}:{v}")))
        .collect();
    assert_eq!(
        outputs,
        [
            Some("model:clf:1".to_string()),
            Some(format!("data:{report}:1"))
        ]
    );
    let lineage = b
        .store
        .asset_lineage(&b.ws, AssetKind::Model, "clf", "1")
        .await
        .expect("lineage");
    assert_eq!(lineage.producer.as_ref(), Some(&job.name));
    exec.shutdown().await;
}

#[tokio::test]
async fn outputs_linking_outside_the_job_folder_fail_the_job() {
    if !uv_available() {
        return;
    }
    let b = bench().await;
    let mut s = spec("echo x > ${{outputs.out}}/ok.txt; ln -s /etc/passwd ${{outputs.out}}/leak");
    s["outputs"] = json!({"out": {"type": "uri_folder", "name": "leaky", "version": null}});
    let job = b.submit("leak1", s).await;
    let mut s2 = spec("rmdir outputs/out && ln -s /etc outputs/out");
    s2["outputs"] = json!({"out": {"type": "uri_folder", "name": "leaky2", "version": null}});
    let job2 = b.submit("leak2", s2).await;
    let exec = b.start(2);
    for (job, name) in [(&job, "leaky"), (&job2, "leaky2")] {
        let j = b.wait_terminal(job).await;
        assert_eq!(j.status, JobStatus::Failed);
        let msg = j.status_message.unwrap_or_default();
        assert!(
            msg.contains("output 'out'") && msg.contains("symbolic link"),
            "{msg}"
        );
        // Nothing complete was registered: no job can read what the link pointed at.
        let a = b
            .store
            .get_asset(&b.ws, AssetKind::Data, name, &AssetVersionRef::Latest)
            .await;
        assert!(a.map(|a| a.storage_uri.is_none()).unwrap_or(true));
    }
    exec.shutdown().await;
}

#[tokio::test]
async fn a_missing_uri_file_output_fails_the_job_with_the_reason() {
    if !uv_available() {
        return;
    }
    let b = bench().await;
    let mut s = spec("true");
    s["outputs"] = json!({"report": {"type": "uri_file", "name": null, "version": null}});
    let job = b.submit("nofile1", s).await;
    let exec = b.start(1);
    let j = b.wait_terminal(&job).await;
    assert_eq!(j.status, JobStatus::Failed);
    let msg = j.status_message.unwrap_or_default();
    assert!(
        msg.contains("output 'report'") && msg.contains("no file"),
        "{msg}"
    );
    exec.shutdown().await;
}
