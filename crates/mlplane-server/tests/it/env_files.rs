//! Environments whose packages come from a file next to the spec (`pip_requirements`,
//! `conda_file`): the request's `files` carries the text, the stored spec holds it inline.

use crate::support::{TestApp, WS, assert_error};
use serde_json::json;

fn first_error(b: &serde_json::Value) -> (serde_json::Value, serde_json::Value, String) {
    let e = &b["details"]["errors"][0];
    (
        e["line"].clone(),
        e["field"].clone(),
        e["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn requirements_and_conda_files_are_stored_inline() {
    let t = TestApp::new().await;
    let e = t
        .ok(
            "POST",
            &format!("{WS}/environments"),
            Some(json!({"yaml": "name: req\npip_requirements: env/requirements.txt\n",
                        "files": {"env/requirements.txt": "# pinned\nsix==1.16.0\n\nattrs  # any\n"}})),
        )
        .await;
    assert_eq!(
        e["spec"]["deps"]["inline"]["pip"],
        json!(["six==1.16.0", "attrs"])
    );
    let c = t
        .ok(
            "POST",
            &format!("{WS}/environments"),
            Some(json!({"yaml": "name: conda\nconda_file: conda.yml\n",
                        "files": {"conda.yml": "name: x\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n    - six\n"}})),
        )
        .await;
    assert_eq!(
        c["spec"]["deps"]["conda_inline"],
        json!({"python": "3.11", "pip": ["six"]})
    );
    // A job's inline environment reads its file the same way.
    let j = t
        .ok(
            "POST",
            &format!("{WS}/jobs"),
            Some(
                json!({"yaml": "command: echo hi\nenvironment:\n  pip_requirements: r.txt\n",
                        "files": {"r.txt": "six\n"}}),
            ),
        )
        .await;
    assert_eq!(
        j["spec"]["environment"]["inline"]["deps"]["inline"]["pip"],
        json!(["six"])
    );
}

#[tokio::test]
async fn missing_oversize_escaping_and_unused_files_are_refused() {
    let t = TestApp::new().await;
    let url = format!("{WS}/environments");
    let (s, b) = t
        .call(
            "POST",
            &url,
            Some(json!({"yaml": "name: e\npip_requirements: r.txt\n"})),
        )
        .await;
    assert_error(s, &b, 400, "invalid_spec");
    let (line, field, msg) = first_error(&b);
    assert_eq!((line, field), (json!(2), json!("pip_requirements")));
    assert!(msg.contains("'r.txt'"), "{msg}");
    let big = "six\n".repeat(300_000);
    let (s, b) = t
        .call(
            "POST",
            &url,
            Some(json!({"yaml": "name: e\npip_requirements: r.txt\n", "files": {"r.txt": big}})),
        )
        .await;
    assert!(s == 400 || s == 413, "{s} {b}");
    if s == 400 {
        assert!(first_error(&b).2.contains("bytes"), "{b}");
    }
    let (s, b) = t
        .call("POST", &url, Some(json!({"yaml": "name: e\npip_requirements: ../r.txt\n", "files": {"../r.txt": "six\n"}})))
        .await;
    assert_error(s, &b, 400, "invalid_spec");
    assert!(first_error(&b).2.contains(".."), "{b}");
    let (s, b) = t
        .call(
            "POST",
            &url,
            Some(json!({"yaml": "name: e\npip: [six]\n", "files": {"r.txt": "six\n"}})),
        )
        .await;
    assert_error(s, &b, 400, "bad_request");
    // Nothing was created by the refused requests.
    let list = t.ok("GET", &url, None).await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn a_conda_only_package_is_an_error_naming_the_conda_file_line() {
    let t = TestApp::new().await;
    let (s, b) = t
        .call(
            "POST",
            &format!("{WS}/environments"),
            Some(json!({"yaml": "name: e\nconda_file: conda.yml\n",
                        "files": {"conda.yml": "dependencies:\n  - python=3.11\n  - numpy=1.26\n  - pip:\n    - six\n"}})),
        )
        .await;
    assert_error(s, &b, 400, "invalid_spec");
    let (line, field, msg) = first_error(&b);
    assert_eq!((line, field), (json!(2), json!("conda_file")));
    assert!(
        msg.contains("conda.yml:3:") && msg.contains("numpy=1.26"),
        "{msg}"
    );
}
