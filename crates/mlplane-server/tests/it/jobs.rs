//! `/api/v1/workspaces/{ws}/jobs`: submitting YAML and JSON jobs, reading, listing, paging,
//! cancelling, invalid specs with their positions, pinned asset references and hostile input.

use crate::support::{TestApp, WS, assert_error};
use serde_json::{Value, json};

const JOB: &str = "type: command
name: train-1
display_name: train
experiment_name: iris
command: python train.py --lr ${{inputs.lr}} --data ${{inputs.training}}
description: trains iris
environment: sk-env@latest
inputs:
  lr: 0.05
  training: {type: uri_folder, path: iris:1}
outputs:
  model: {type: mlflow_model, name: iris-model}
limits: {timeout: 60}
tags: {team: ml}
";

/// An environment asset with python `version` (no image: jobs run on `local`).
async fn env(t: &TestApp, name: &str, version: &str) -> Value {
    t.ok(
        "POST",
        &format!("{WS}/environments"),
        Some(json!({"name": name, "python": version, "pip": []})),
    )
    .await
}

async fn seeded() -> TestApp {
    let t = TestApp::new().await;
    env(&t, "sk-env", "3.10").await;
    t.ok(
        "POST",
        &format!("{WS}/data"),
        Some(json!({"name": "iris", "version": "1", "path": "data/iris"})),
    )
    .await;
    t.upload_asset("data", "iris", "1", &[("iris.csv", b"a,b\n1,2\n")])
        .await;
    t
}

fn submit(yaml: &str, set: &[&str]) -> Option<Value> {
    Some(json!({"yaml": yaml, "set": set}))
}

/// A submission of `yaml` with the code snapshot its `code` names.
fn submit_code(yaml: &str, set: &[&str], snapshot: &str) -> Option<Value> {
    Some(json!({"yaml": yaml, "set": set, "code_snapshot": {"sha256": snapshot}}))
}

#[tokio::test]
async fn a_yaml_job_is_queued_with_its_run_and_a_pinned_spec() {
    let t = seeded().await;
    let code = crate::snapshots::upload(&t, &[("train.py", "print(1)")]).await;
    let with_code = JOB.replace("description: trains iris", "code: ./src");
    let (s, j) = t
        .call(
            "POST",
            &format!("{WS}/jobs"),
            submit_code(&with_code, &["inputs.lr=0.1"], &code),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{j}");
    assert_eq!(j["name"], "train-1");
    assert_eq!(j["status"], "Queued");
    assert_eq!(j["compute"], "local");
    assert_eq!(j["display_name"], "train");
    assert_eq!(
        j["tags"],
        json!([{"key": "team", "value": "ml"}, {"key": "mlplane.code.snapshot", "value": code}])
    );
    assert_eq!(j["spec"]["inputs"]["lr"]["value"], 0.1);
    assert_eq!(j["spec"]["environment"]["asset"], "sk-env:1");
    assert_eq!(j["spec"]["inputs"]["training"]["asset"], "iris:1");
    assert_eq!(j["spec"]["limits"]["timeout"], 60);
    assert_eq!(j["spec"]["code"], "./src");
    let run = t
        .ok(
            "GET",
            &format!("{WS}/runs/{}", j["run_id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(run["info"]["status"], "QUEUED");
    assert_eq!(run["info"]["name"], "train");
    let exp = t
        .ok("GET", &format!("{WS}/experiments/by-name/iris"), None)
        .await;
    assert_eq!(exp["experiment_id"], j["experiment_id"]);
    let got = t.ok("GET", &format!("{WS}/jobs/train-1"), None).await;
    assert_eq!(got["spec"], j["spec"]);
    let io = t.ok("GET", &format!("{WS}/jobs/train-1/io"), None).await;
    assert_eq!(
        io["items"],
        json!([{"direction": "input", "name": "training",
                "asset": {"kind": "data", "name": "iris", "version": "1"}, "uri": null}])
    );
    let l = t
        .ok("GET", &format!("{WS}/data/iris/versions/1/lineage"), None)
        .await;
    assert_eq!(l["consumers"], json!(["train-1"]));
    let (s, b) = t
        .call(
            "POST",
            &format!("{WS}/jobs"),
            submit_code(&with_code, &[], &code),
        )
        .await;
    assert_error(s, &b, 409, "job_already_exists");
}

#[tokio::test]
async fn a_json_job_gets_a_name_the_default_experiment_and_local_compute() {
    let t = TestApp::new().await;
    let j = t
        .ok(
            "POST",
            &format!("{WS}/jobs"),
            Some(json!({
                "command": "echo ${{inputs.n}}",
                "environment": {"python": "3.11", "pip": ["numpy"]},
                "inputs": {"n": 3},
            })),
        )
        .await;
    let name = j["name"].as_str().unwrap();
    assert!(!name.is_empty());
    assert_eq!(j["compute"], "local");
    assert_eq!(
        j["spec"]["environment"]["inline"]["deps"]["inline"]["pip"],
        json!(["numpy"])
    );
    let exp = t
        .ok("GET", &format!("{WS}/experiments/by-name/Default"), None)
        .await;
    assert_eq!(exp["experiment_id"], j["experiment_id"]);
    let run = t
        .ok(
            "GET",
            &format!("{WS}/runs/{}", j["run_id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(run["info"]["name"], name);
}

#[tokio::test]
async fn jobs_list_filters_and_pages() {
    let t = seeded().await;
    for i in 0..3 {
        let spec = JOB.replace("train-1", &format!("j{i}"));
        t.ok("POST", &format!("{WS}/jobs"), submit(&spec, &[]))
            .await;
    }
    let other = JOB
        .replace("train-1", "other")
        .replace("experiment_name: iris", "experiment_name: other");
    let o = t
        .ok("POST", &format!("{WS}/jobs"), submit(&other, &[]))
        .await;
    t.ok("POST", &format!("{WS}/jobs/j0/cancel"), None).await;
    let all = t.ok("GET", &format!("{WS}/jobs"), None).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
    let q = t.ok("GET", &format!("{WS}/jobs?status=queued"), None).await;
    assert_eq!(q["items"].as_array().unwrap().len(), 3);
    let c = t
        .ok("GET", &format!("{WS}/jobs?status=Canceled,Failed"), None)
        .await;
    assert_eq!(c["items"][0]["name"], "j0");
    let e = t
        .ok(
            "GET",
            &format!(
                "{WS}/jobs?experiment_id={}",
                o["experiment_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(e["items"].as_array().unwrap().len(), 1);
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let uri = match &token {
            Some(tok) => format!("{WS}/jobs?max_results=3&page_token={tok}"),
            None => format!("{WS}/jobs?max_results=3"),
        };
        let p = t.ok("GET", &uri, None).await;
        for i in p["items"].as_array().unwrap() {
            names.push(i["name"].as_str().unwrap().to_string());
        }
        match p["next_page_token"].as_str() {
            Some(tok) => token = Some(tok.to_string()),
            None => break,
        }
    }
    names.sort();
    assert_eq!(names, vec!["j0", "j1", "j2", "other"]);
    let (s, b) = t.call("GET", &format!("{WS}/jobs?status=Done"), None).await;
    assert_error(s, &b, 400, "invalid_parameter");
    let (s, b) = t
        .call("GET", &format!("{WS}/jobs?page_token=garbage"), None)
        .await;
    assert_error(s, &b, 400, "invalid_page_token");
}

#[tokio::test]
async fn cancelling_a_queued_job_kills_its_run_and_twice_is_a_conflict() {
    let t = seeded().await;
    let j = t.ok("POST", &format!("{WS}/jobs"), submit(JOB, &[])).await;
    let c = t
        .ok("POST", &format!("{WS}/jobs/train-1/cancel"), None)
        .await;
    assert_eq!(c["status"], "Canceled");
    assert!(c["ended_at"].is_i64());
    let run = t
        .ok(
            "GET",
            &format!("{WS}/runs/{}", j["run_id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(run["info"]["status"], "KILLED");
    let (s, b) = t
        .call("POST", &format!("{WS}/jobs/train-1/cancel"), None)
        .await;
    assert_error(s, &b, 409, "job_terminal");
    let (s, b) = t
        .call("POST", &format!("{WS}/jobs/nope/cancel"), None)
        .await;
    assert_error(s, &b, 404, "job_not_found");
    let (s, b) = t.call("GET", &format!("{WS}/jobs/bad.name"), None).await;
    assert_error(s, &b, 400, "invalid_parameter");
}

/// The `details.errors` entry for `field`.
fn error_at(body: &Value, field: &str) -> Value {
    body["details"]["errors"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["field"] == field).cloned())
        .unwrap_or_else(|| panic!("no error for {field}: {body}"))
}

#[tokio::test]
async fn invalid_specs_answer_with_line_column_and_field() {
    let t = seeded().await;
    let post = |spec: String| {
        let t = &t;
        async move {
            t.call("POST", &format!("{WS}/jobs"), submit(&spec, &[]))
                .await
        }
    };
    let (s, b) = post("command: echo\nenvironment: sk-env@latest\ncomand: x\n".into()).await;
    assert_error(s, &b, 400, "invalid_spec");
    let e = error_at(&b, "comand");
    assert_eq!(
        (e["line"].clone(), e["column"].clone()),
        (json!(3), json!(1))
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("did you mean 'command'"),
        "{e}"
    );

    let (s, b) = post("command: echo ${{inputs.x}}\nenvironment: sk-env@latest\n".into()).await;
    assert_error(s, &b, 400, "invalid_spec");
    let e = error_at(&b, "command");
    assert_eq!(e["line"], 1);

    let (s, b) = post("command: echo\nenvironment: missing-env:3\n".into()).await;
    assert_error(s, &b, 400, "invalid_spec");
    let e = error_at(&b, "environment");
    assert_eq!(
        (e["line"].clone(), e["column"].clone()),
        (json!(2), json!(14))
    );
    assert!(
        e["message"].as_str().unwrap().contains("missing-env:3"),
        "{e}"
    );

    let spec = JOB.replace("iris:1", "iris:9");
    let (s, b) = post(spec).await;
    assert_error(s, &b, 400, "invalid_spec");
    assert_eq!(error_at(&b, "inputs.training.path")["line"], 10);

    let (s, b) = post("command: echo\nenvironment: sk-env@latest\ncode: ../up\n".into()).await;
    assert_error(s, &b, 400, "invalid_spec");
    assert!(
        error_at(&b, "code")["message"]
            .as_str()
            .unwrap()
            .contains("..")
    );
    // Nothing was stored.
    let l = t.ok("GET", &format!("{WS}/jobs"), None).await;
    assert_eq!(l["items"], json!([]));
}

#[tokio::test]
async fn env_latest_resolves_to_the_newest_version_at_submission() {
    let t = seeded().await;
    let v2 = env(&t, "sk-env", "3.12").await;
    assert_eq!(v2["version"], "2");
    let j = t.ok("POST", &format!("{WS}/jobs"), submit(JOB, &[])).await;
    assert_eq!(j["spec"]["environment"]["asset"], "sk-env:2");
    t.ok(
        "POST",
        &format!("{WS}/environments/sk-env/versions/2/archive"),
        None,
    )
    .await;
    let spec = JOB.replace("train-1", "train-2");
    let j = t
        .ok("POST", &format!("{WS}/jobs"), submit(&spec, &[]))
        .await;
    assert_eq!(j["spec"]["environment"]["asset"], "sk-env:1");
}

#[tokio::test]
async fn jobs_are_invisible_from_other_workspaces() {
    let t = seeded().await;
    t.ok("POST", &format!("{WS}/jobs"), submit(JOB, &[])).await;
    t.ok("POST", "/api/v1/workspaces", Some(json!({"name": "other"})))
        .await;
    let other = "/api/v1/workspaces/other";
    let (s, b) = t.call("GET", &format!("{other}/jobs/train-1"), None).await;
    assert_error(s, &b, 404, "job_not_found");
    let (s, b) = t
        .call("POST", &format!("{other}/jobs/train-1/cancel"), None)
        .await;
    assert_error(s, &b, 404, "job_not_found");
    let l = t.ok("GET", &format!("{other}/jobs"), None).await;
    assert_eq!(l["items"], json!([]));
    // The environment and data live in the default workspace only.
    let (s, b) = t
        .call("POST", &format!("{other}/jobs"), submit(JOB, &[]))
        .await;
    assert_error(s, &b, 400, "invalid_spec");
    let (s, b) = t.call("GET", "/api/v1/workspaces/nowhere/jobs", None).await;
    assert_error(s, &b, 404, "workspace_not_found");
}

#[tokio::test]
async fn hostile_job_submissions_are_refused_cleanly() {
    let t = seeded().await;
    let (s, b) = t
        .raw(
            "POST",
            &format!("{WS}/jobs"),
            Some("application/json"),
            b"{\"yaml\": ".to_vec(),
        )
        .await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_error(s, &v, 400, "bad_request");
    let huge = format!(
        "command: echo\nenvironment: sk-env@latest\ndescription: {}\n",
        "x".repeat(200_000)
    );
    let (s, b) = t
        .call("POST", &format!("{WS}/jobs"), submit(&huge, &[]))
        .await;
    assert_error(s, &b, 413, "payload_too_large");
    let (s, b) = t
        .call(
            "POST",
            &format!("{WS}/jobs"),
            Some(json!({"yaml": "a: [", "command": "x"})),
        )
        .await;
    assert_error(s, &b, 400, "bad_request");
    let (s, b) = t.call("POST", &format!("{WS}/jobs"), Some(json!({}))).await;
    assert_error(s, &b, 400, "bad_request");
    let (s, b) = t
        .call("POST", &format!("{WS}/jobs"), submit("a: [\n", &[]))
        .await;
    assert_error(s, &b, 400, "invalid_spec");
    let (s, b) = t
        .call("POST", &format!("{WS}/jobs"), Some(json!({"yaml": 7})))
        .await;
    assert_error(s, &b, 400, "invalid_parameter");
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let (s, b) = t
        .call(
            "POST",
            &format!("{WS}/jobs"),
            submit(&format!("command: {deep}\n"), &[]),
        )
        .await;
    assert_error(s, &b, 400, "invalid_spec");
}

#[tokio::test]
async fn a_model_input_resolves_among_models_and_set_applies_to_json_bodies() {
    let t = seeded().await;
    t.ok(
        "POST",
        &format!("{WS}/models"),
        Some(json!({"name": "clf", "type": "mlflow_model", "path": "m"})),
    )
    .await;
    t.ok(
        "POST",
        "/api/v1/computes",
        Some(json!({"yaml": "name: cpu\nslots: 4\n"})),
    )
    .await;
    t.upload_asset("models", "clf", "1", &[("MLmodel", b"flavors: {}\n")])
        .await;
    let body = json!({
        "name": "score",
        "command": "python score.py ${{inputs.model}} ${{inputs.k}}",
        "environment": "sk-env:1",
        "inputs": {"model": {"type": "mlflow_model", "path": "clf@latest", "mode": "download"}, "k": 1},
        "set": ["inputs.k=5", "compute=cpu"],
    });
    let j = t.ok("POST", &format!("{WS}/jobs"), Some(body)).await;
    assert_eq!(j["spec"]["inputs"]["model"]["asset"], "clf:1");
    assert_eq!(j["spec"]["inputs"]["model"]["mode"], "download");
    assert_eq!(j["spec"]["inputs"]["k"]["value"], 5);
    assert_eq!(j["compute"], "cpu");
    let l = t
        .ok(
            "GET",
            &format!("{WS}/models/clf/versions/latest/lineage"),
            None,
        )
        .await;
    assert_eq!(l["consumers"], json!(["score"]));
    // `iris` is data, not a model: a model input cannot name it.
    let (s, b) = t
        .call(
            "POST",
            &format!("{WS}/jobs"),
            Some(json!({
                "command": "echo ${{inputs.m}}",
                "environment": "sk-env:1",
                "inputs": {"m": {"type": "custom_model", "path": "iris:1"}},
            })),
        )
        .await;
    assert_error(s, &b, 400, "invalid_spec");
    assert!(
        error_at(&b, "inputs.m.path")["message"]
            .as_str()
            .unwrap()
            .contains("model 'iris:1'")
    );
}

#[tokio::test]
async fn unknown_compute_and_images_on_local_compute_are_refused_at_submit() {
    let t = seeded().await;
    let (s, e) = t
        .call(
            "POST",
            &format!("{WS}/jobs"),
            Some(json!({"command": "true", "environment": "sk-env:1", "compute": "gpu"})),
        )
        .await;
    assert_error(s, &e, 400, "invalid_spec");
    assert_eq!(e["details"]["errors"][0]["field"], "compute", "{e}");
    env_with_image(&t).await;
    let (s, e) = t
        .call(
            "POST",
            &format!("{WS}/jobs"),
            Some(json!({"command": "true", "environment": "img-env:1"})),
        )
        .await;
    assert_error(s, &e, 400, "invalid_spec");
    assert_eq!(e["details"]["errors"][0]["field"], "environment", "{e}");
    let (s, e) = t
        .call(
            "POST",
            &format!("{WS}/jobs"),
            submit("command: 'true'\nenvironment:\n  image: python:3.12\n", &[]),
        )
        .await;
    assert_error(s, &e, 400, "invalid_spec");
    assert_eq!(
        e["details"]["errors"][0]["field"], "environment.image",
        "{e}"
    );
    assert_eq!(e["details"]["errors"][0]["line"], 3, "{e}");
    let l = t.ok("GET", &format!("{WS}/jobs"), None).await;
    assert_eq!(l["items"], json!([]), "nothing was stored");
}

async fn env_with_image(t: &TestApp) {
    t.ok(
        "POST",
        &format!("{WS}/environments"),
        Some(json!({"name": "img-env", "image": "python:3.12"})),
    )
    .await;
}

#[tokio::test]
async fn compute_targets_are_created_listed_and_validated() {
    let t = TestApp::new().await;
    let c = t
        .ok(
            "POST",
            "/api/v1/computes",
            Some(json!({"yaml": "name: big\ntype: local\nslots: 3\ncpu: 8\nmemory: 2Gi\n"})),
        )
        .await;
    assert_eq!(
        (c["kind"].as_str(), c["version"].as_str()),
        (Some("compute"), Some("1"))
    );
    assert_eq!(
        c["spec"],
        json!({"name": "big", "type": "local", "slots": 3, "cpu": 8, "memory": 2147483648u64})
    );
    let l = t.ok("GET", "/api/v1/computes", None).await;
    let names: Vec<&str> = l["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["local", "big"]);
    let g = t.ok("GET", "/api/v1/computes/big", None).await;
    assert_eq!(g["spec"]["slots"], 3);
    let (s, e) = t
        .call(
            "POST",
            "/api/v1/computes",
            Some(json!({"yaml": "name: local\nslots: 9\n"})),
        )
        .await;
    assert_error(s, &e, 400, "invalid_spec");
    assert_eq!(e["details"]["errors"][0]["field"], "name", "{e}");
    let (s, e) = t.call("GET", "/api/v1/computes/nope", None).await;
    assert_eq!(s.as_u16(), 404, "{e}");
}

#[tokio::test]
async fn every_spec_kind_has_its_json_schema_served() {
    let t = TestApp::new().await;
    for kind in ["command_job", "data", "model", "environment", "compute"] {
        let s = t.ok("GET", &format!("/api/v1/schemas/{kind}"), None).await;
        assert_eq!(
            s["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{kind}"
        );
        assert_eq!(s["type"], "object", "{kind}");
    }
    let (s, e) = t.call("GET", "/api/v1/schemas/pipeline", None).await;
    assert_error(s, &e, 404, "route_not_found");
    assert!(
        e["message"].as_str().unwrap().contains("command_job"),
        "{e}"
    );
}

const COMPONENT: &str = "type: command
name: train
display_name: Train
inputs:
  lr: {type: number, default: 0.01}
  epochs: {type: integer}
outputs:
  model: {type: mlflow_model}
command: python train.py --lr ${{inputs.lr}} --epochs ${{inputs.epochs}} --out ${{outputs.model}}
environment: sk-env@latest
";

#[tokio::test]
async fn a_job_runs_a_registered_component_with_its_inputs_bound() {
    let t = seeded().await;
    let c = t
        .ok(
            "POST",
            &format!("{WS}/components"),
            Some(json!({"yaml": COMPONENT})),
        )
        .await;
    assert_eq!(
        (c["kind"].as_str(), c["version"].as_str()),
        (Some("component"), Some("1"))
    );
    assert_eq!(
        c["spec"]["inputs"]["epochs"],
        json!({"type": "integer", "optional": false, "has_default": false})
    );
    let j = t
        .ok(
            "POST",
            &format!("{WS}/jobs"),
            submit("component: azureml:train:1\ninputs:\n  epochs: 5\n", &[]),
        )
        .await;
    assert_eq!(
        j["spec"]["command"],
        "python train.py --lr ${{inputs.lr}} --epochs ${{inputs.epochs}} --out ${{outputs.model}}"
    );
    assert_eq!(j["spec"]["inputs"]["epochs"]["value"], 5);
    assert_eq!(j["spec"]["inputs"]["lr"]["value"], 0.01);
    assert_eq!(j["spec"]["outputs"]["model"]["type"], "mlflow_model");
    assert_eq!(j["spec"]["environment"]["asset"], "sk-env:1");
    assert!(
        j["tags"]
            .as_array()
            .unwrap()
            .contains(&json!({"key": "mlplane.component", "value": "train:1"})),
        "{j}"
    );

    let (s, e) = t
        .call(
            "POST",
            &format!("{WS}/jobs"),
            submit("component: nope@latest\n", &[]),
        )
        .await;
    assert_error(s, &e, 400, "invalid_spec");
    assert_eq!(e["details"]["errors"][0]["field"], "component", "{e}");
    let (s, e) = t
        .call(
            "POST",
            &format!("{WS}/jobs"),
            submit("component: train:1\ninputs:\n  epochs: many\n", &[]),
        )
        .await;
    assert_error(s, &e, 400, "invalid_spec");
    assert_eq!(e["details"]["errors"][0]["field"], "inputs.epochs", "{e}");
    let (s, e) = t
        .call(
            "POST",
            &format!("{WS}/components"),
            Some(
                json!({"yaml": "name: bad\ncommand: echo ${{inputs.x}}\nenvironment: sk-env:1\n"}),
            ),
        )
        .await;
    assert_error(s, &e, 400, "invalid_spec");
    assert_eq!(e["details"]["errors"][0]["field"], "command", "{e}");
}

#[tokio::test]
async fn a_component_naming_code_stores_its_snapshot_and_its_jobs_carry_it() {
    let t = seeded().await;
    let yaml = "name: scripted\ncode: ./src\ncommand: python run.py\nenvironment: sk-env:1\n";
    let url = format!("{WS}/components");
    // Without its snapshot the component is refused at `code`, and nothing is stored.
    let (s, e) = t.call("POST", &url, Some(json!({"yaml": yaml}))).await;
    assert_error(s, &e, 400, "invalid_spec");
    assert_eq!(e["details"]["errors"][0]["field"], "code", "{e}");
    let (s, e) = t
        .call("GET", &format!("{url}/scripted/versions/1"), None)
        .await;
    assert_eq!(s, 404, "{e}");
    // A snapshot id the workspace does not hold is refused too.
    let missing = "0".repeat(64);
    let (s, e) = t
        .call(
            "POST",
            &url,
            Some(json!({"yaml": yaml, "code_snapshot": {"sha256": missing}})),
        )
        .await;
    assert_eq!(s, 404, "{e}");
    // A component without `code` takes no snapshot.
    let code = crate::snapshots::upload(&t, &[("run.py", "print(1)")]).await;
    let (s, e) = t
        .call(
            "POST",
            &url,
            Some(json!({"yaml": COMPONENT, "code_snapshot": {"sha256": code}})),
        )
        .await;
    assert_error(s, &e, 400, "bad_request");

    let c = t
        .ok(
            "POST",
            &url,
            Some(json!({"yaml": yaml, "code_snapshot": {"sha256": code, "git": {"commit": "abc", "dirty": true}}})),
        )
        .await;
    assert_eq!(c["spec"]["code_snapshot"]["sha256"], code.as_str(), "{c}");
    let j = t
        .ok(
            "POST",
            &format!("{WS}/jobs"),
            submit("component: azureml:scripted:1\n", &[]),
        )
        .await;
    let tags = j["tags"].as_array().unwrap();
    assert!(
        tags.contains(&json!({"key": "mlplane.code.snapshot", "value": code})),
        "{j}"
    );
    assert_eq!(j["spec"]["code"], "./src", "{j}");
    let run = t
        .ok(
            "GET",
            &format!(
                "/api/2.0/mlflow/runs/get?run_id={}",
                j["run_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    let run_tags = run["run"]["data"]["tags"].as_array().unwrap();
    assert!(
        run_tags.contains(&json!({"key": "mlflow.source.git.commit", "value": "abc"})),
        "{run}"
    );
    // A second snapshot of the job's own `code` wins over the component's.
    let own = crate::snapshots::upload(&t, &[("run.py", "print(2)")]).await;
    let j = t
        .ok(
            "POST",
            &format!("{WS}/jobs"),
            submit_code("component: scripted:1\ncode: ./mine\n", &[], &own),
        )
        .await;
    let tags = j["tags"].as_array().unwrap();
    assert!(
        tags.contains(&json!({"key": "mlplane.code.snapshot", "value": own})),
        "{j}"
    );
    // Without its own `code`, a job of the component may not send another snapshot.
    let (s, e) = t
        .call(
            "POST",
            &format!("{WS}/jobs"),
            submit_code("component: scripted:1\n", &[], &own),
        )
        .await;
    assert_error(s, &e, 400, "bad_request");
}
