//! Compute targets through the real binary: a target defined with `mlplane compute create`
//! runs at most its slots' jobs at once; jobs naming an unknown target, or a container
//! image on a target that runs plain processes, are refused at submit naming the field.
//!
//! Needs uv (`MLPLANE_UV`); without it the test prints a notice and returns, unless
//! `MLPLANE_REQUIRE_UV` is set.

use mlplane_systest::{Server, cli, client, get_json, post_json, uv_available, wait_job};
use serde_json::{Value, json};

async fn refused(c: &reqwest::Client, api: &str, body: Value) -> Value {
    let resp = c
        .post(format!("{api}/jobs"))
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status().as_u16(), 400);
    resp.json().await.expect("error body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_defined_target_holds_its_slots_and_bad_targets_are_refused() {
    if !uv_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--job-slots", "2"]);
    let api = server.api();
    let c = client();

    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "name: single\nslots: 0\n").expect("write");
    let out = cli(
        &server.url,
        &["compute", "create", "-f", bad.to_str().expect("utf-8")],
        &[],
    );
    let err = &out.2;
    assert_eq!(out.0, 1, "{err}");
    assert!(err.contains("bad.yml:2:") && err.contains("slots"), "{err}");

    let spec = dir.path().join("single.yml");
    std::fs::write(&spec, "name: single\ntype: local\nslots: 1\nmemory: 1Gi\n").expect("write");
    let out = cli(
        &server.url,
        &["compute", "create", "-f", spec.to_str().expect("utf-8")],
        &[],
    );
    assert!(out.0 == 0, "{}", &out.2);
    let list = get_json(&c, &format!("{}/api/v1/computes", server.url)).await;
    let names: Vec<(&str, u64)> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap_or(""),
                v["spec"]["slots"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(names, [("local", 2), ("single", 1)], "{list}");

    let e = refused(
        &c,
        &api,
        json!({"command": "true", "environment": {"pip": []}, "compute": "nope"}),
    )
    .await;
    assert_eq!(e["code"], "invalid_spec", "{e}");
    assert_eq!(e["details"]["errors"][0]["field"], "compute", "{e}");
    let e = refused(
        &c,
        &api,
        json!({"command": "true", "environment": {"image": "python:3.12"}, "compute": "single"}),
    )
    .await;
    assert_eq!(
        e["details"]["errors"][0]["field"], "environment.image",
        "{e}"
    );
    let jobs = get_json(&c, &format!("{api}/jobs")).await;
    assert_eq!(
        jobs["items"].as_array().map(Vec::len),
        Some(0),
        "refused jobs are not stored"
    );

    let marks = dir.path().join("marks");
    std::fs::create_dir_all(&marks).expect("marks");
    let mut urls = Vec::new();
    for i in 0..3 {
        let cmd = format!(
            "date +%s%N > {m}/{i}.start; sleep 1; date +%s%N > {m}/{i}.end",
            m = marks.display()
        );
        let job = post_json(
            &c,
            &format!("{api}/jobs"),
            &json!({"command": cmd, "environment": {"pip": []}, "compute": "single"}),
        )
        .await;
        assert_eq!(job["compute"], "single", "{job}");
        urls.push(format!(
            "{api}/jobs/{}",
            job["name"].as_str().expect("name")
        ));
    }
    for u in &urls {
        let done = wait_job(&c, u, None).await;
        assert_eq!(done["status"], "Completed", "{done}");
    }
    let read = |p: String| -> u128 {
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .trim()
            .parse()
            .expect("ns")
    };
    let mut spans: Vec<(u128, u128)> = (0..3)
        .map(|i| {
            (
                read(format!("{}/{i}.start", marks.display())),
                read(format!("{}/{i}.end", marks.display())),
            )
        })
        .collect();
    spans.sort();
    for w in spans.windows(2) {
        assert!(
            w[0].1 <= w[1].0,
            "two jobs of a 1-slot target overlapped: {spans:?}"
        );
    }
    drop(server);
}

/// A command component registered with `mlplane component create` runs as a job that names
/// it, with one input bound by the job and one taken from its default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_job_runs_from_the_cli() {
    if !uv_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--job-slots", "1"]);
    let comp = dir.path().join("component.yml");
    std::fs::write(
        &comp,
        "type: command\nname: greet\nversion: '1'\ninputs:\n  who: {type: string}\n  times: {type: integer, default: 2}\n\
         command: for i in $(seq ${{inputs.times}}); do echo hello ${{inputs.who}}; done\nenvironment: {pip: []}\n",
    )
    .expect("write");
    let out = cli(
        &server.url,
        &["component", "create", "-f", comp.to_str().expect("utf-8")],
        &[],
    );
    assert!(out.0 == 0, "{}", &out.2);
    let job = dir.path().join("job.yml");
    std::fs::write(
        &job,
        "component: azureml:greet:1\ninputs:\n  who: component\n",
    )
    .expect("write");
    let out = cli(
        &server.url,
        &[
            "job",
            "create",
            "-f",
            job.to_str().expect("utf-8"),
            "--stream",
        ],
        &[],
    );
    let log = &out.1;
    assert!(out.0 == 0, "{log}\n{}", &out.2);
    assert_eq!(log.matches("hello component").count(), 2, "{log}");
    drop(server);
}

/// A component naming `code` has that folder (next to its spec) packed and uploaded by
/// `mlplane component create`; a job naming the component, submitted from another folder,
/// runs the component's script from that snapshot and records it as a tag. A `code` outside
/// the spec's folder is refused by the CLI naming the field, and nothing is registered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_with_code_runs_its_script_from_the_snapshot() {
    if !uv_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--job-slots", "1"]);
    let comp_dir = dir.path().join("comp");
    std::fs::create_dir_all(comp_dir.join("src")).expect("mkdir");
    std::fs::write(
        comp_dir.join("src/greet.py"),
        "import sys\nprint('greeted from the snapshot:', sys.argv[1])\n",
    )
    .expect("write");
    let comp = comp_dir.join("component.yml");
    std::fs::write(
        &comp,
        "type: command\nname: scripted\nversion: '1'\ncode: ./src\ninputs:\n  who: {type: string}\n\
         command: python greet.py ${{inputs.who}}\nenvironment: {pip: []}\n",
    )
    .expect("write");
    let bad = comp_dir.join("bad.yml");
    std::fs::write(
        &bad,
        "type: command\nname: escaping\nversion: '1'\ncode: ../\ncommand: ls\nenvironment: {pip: []}\n",
    )
    .expect("write");
    let out = cli(
        &server.url,
        &["component", "create", "-f", bad.to_str().expect("utf-8")],
        &[],
    );
    let err = &out.2;
    assert!(out.0 != 0 && err.contains("code"), "{err}");
    let c = client();
    let api = format!("{}/api/v1/workspaces/default", server.url);
    let resp = c
        .get(format!("{api}/components/escaping/versions/1"))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status().as_u16(), 404);

    let out = cli(
        &server.url,
        &[
            "-o",
            "json",
            "component",
            "create",
            "-f",
            comp.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(out.0 == 0, "{}", &out.2);
    let registered: Value = serde_json::from_str(&out.1).expect("json");
    let snapshot = registered["spec"]["code_snapshot"]["sha256"]
        .as_str()
        .expect("snapshot id")
        .to_string();
    // The job is submitted from the server's folder, which holds no greet.py.
    let job = dir.path().join("job.yml");
    std::fs::write(
        &job,
        "component: azureml:scripted:1\ninputs:\n  who: alice\n",
    )
    .expect("write");
    let out = cli(
        &server.url,
        &[
            "job",
            "create",
            "-f",
            job.to_str().expect("utf-8"),
            "--stream",
        ],
        &[],
    );
    let log = &out.1;
    assert!(out.0 == 0, "{log}\n{}", &out.2);
    assert!(log.contains("greeted from the snapshot: alice"), "{log}");
    let jobs = get_json(&c, &format!("{api}/jobs")).await;
    let tags = &jobs["items"][0]["tags"];
    assert!(
        tags.as_array()
            .expect("tags")
            .contains(&json!({"key": "mlplane.code.snapshot", "value": snapshot})),
        "{jobs}"
    );
    // A job naming its own `code` runs that folder instead.
    std::fs::create_dir_all(dir.path().join("mine")).expect("mkdir");
    std::fs::write(
        dir.path().join("mine/greet.py"),
        "import sys\nprint('greeted from the job:', sys.argv[1])\n",
    )
    .expect("write");
    std::fs::write(
        &job,
        "component: azureml:scripted:1\ncode: ./mine\ninputs:\n  who: bob\n",
    )
    .expect("write");
    let out = cli(
        &server.url,
        &[
            "job",
            "create",
            "-f",
            job.to_str().expect("utf-8"),
            "--stream",
        ],
        &[],
    );
    let log = &out.1;
    assert!(out.0 == 0, "{log}\n{}", &out.2);
    assert!(log.contains("greeted from the job: bob"), "{log}");
    drop(server);
}
