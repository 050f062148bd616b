//! Spec files end to end: good specs decode to the expected values, and a table of bad
//! specs each reports the right line, column, field and message.

use mlplane_spec::assets::DepsSource;
use mlplane_spec::{
    AssetRef, DataPath, DataType, EnvSource, JobInput, Literal, parse_command_job, parse_conda,
    parse_data, parse_environment,
};

const JOB: &str = r#"$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
experiment_name: iris
display_name: train
code: ./src
command: >-
  python train.py --data ${{inputs.training}} --lr ${{inputs.lr}}
  $[[--seed ${{inputs.seed}}]] --out ${{outputs.model_dir}}
environment: azureml:sklearn-env@latest
compute: azureml:local
inputs:
  training: {type: uri_file, path: azureml:iris-csv:1, mode: download}
  lr: 0.05
  seed: "42"
outputs:
  model_dir: {type: mlflow_model, name: iris-model}
environment_variables: {LOG_LEVEL: info}
limits: {timeout: 3600}
tags: {team: ml}
"#;

#[test]
fn a_full_command_job_decodes() {
    let j = parse_command_job(JOB, &[]).expect("valid job");
    assert_eq!(j.experiment_name.as_deref(), Some("iris"));
    assert_eq!(j.code.as_deref(), Some("./src"));
    assert_eq!(j.compute.as_deref(), Some("local"));
    assert_eq!(
        j.environment,
        EnvSource::Asset(AssetRef::Latest {
            name: "sklearn-env".into()
        })
    );
    assert_eq!(j.inputs["lr"], JobInput::Literal(Literal::Number(0.05)));
    assert_eq!(
        j.inputs["seed"],
        JobInput::Literal(Literal::String("42".into()))
    );
    match &j.inputs["training"] {
        JobInput::Data { kind, path, .. } => {
            assert_eq!(*kind, DataType::UriFile);
            assert_eq!(
                *path,
                DataPath::Asset(AssetRef::Exact {
                    name: "iris-csv".into(),
                    version: "1".into()
                })
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(j.outputs["model_dir"].name.as_deref(), Some("iris-model"));
    assert_eq!(j.timeout_secs, Some(3600));
    assert_eq!(j.environment_variables["LOG_LEVEL"], "info");
}

#[test]
fn set_overrides_apply_before_validation() {
    let j = parse_command_job(
        JOB,
        &[
            "inputs.lr=0.5".into(),
            "limits.timeout=10".into(),
            "tags.new=x".into(),
        ],
    )
    .expect("valid");
    assert_eq!(j.inputs["lr"], JobInput::Literal(Literal::Number(0.5)));
    assert_eq!(j.timeout_secs, Some(10));
    assert_eq!(j.tags["new"], "x");
    let e = parse_command_job(JOB, &["limits.timeout=-1".into()]).expect_err("negative");
    assert!(e.to_string().contains("limits.timeout"), "{e}");
    let e = parse_command_job(JOB, &["command.x=1".into()]).expect_err("into a string");
    assert!(e.to_string().contains("--set command.x=1"), "{e}");
    let e = parse_command_job(JOB, &["novalue".into()]).expect_err("no =");
    assert!(e.to_string().contains("path=value"), "{e}");
}

/// (spec, expected line:col, field, words in the message)
const BAD: &[(&str, &str, &str, &str)] = &[
    (
        "command: echo\nenvironment: e@latest\ncomand: x\n",
        "3:1",
        "comand",
        "did you mean 'command'",
    ),
    ("environment: e@latest\n", "1:1", "command", "is required"),
    ("command: echo\n", "1:1", "environment", "is required"),
    (
        "command: python t.py ${{inputs.lr}}\nenvironment: e@latest\ninputs:\n  rl: 1\n",
        "1:10",
        "command",
        "input 'lr', which is not declared in inputs; did you mean 'rl'",
    ),
    (
        "command: echo ${{outputs.out}}\nenvironment: e@latest\n",
        "1:10",
        "command",
        "output 'out'",
    ),
    (
        "command: echo ${{inputs.x\nenvironment: e@latest\n",
        "1:10",
        "command",
        "not closed",
    ),
    (
        "command: echo\nenvironment: e\n",
        "2:14",
        "environment",
        "names no version",
    ),
    (
        "command: echo\nenvironment: e@v2\n",
        "2:14",
        "environment",
        "only the label",
    ),
    (
        "command: echo\nenvironment: e@latest\ncode: ../up\n",
        "3:7",
        "code",
        "'..'",
    ),
    (
        "command: echo\nenvironment: e@latest\ncode: /etc\n",
        "3:7",
        "code",
        "relative",
    ),
    (
        "command: echo\nenvironment: e@latest\ncode: s3://b/x\n",
        "3:7",
        "code",
        "remote URIs",
    ),
    (
        "command: echo\nenvironment: e@latest\ninputs:\n  d: {type: uri_fil, path: x}\n",
        "4:13",
        "inputs.d.type",
        "did you mean 'uri_file'",
    ),
    (
        "command: echo\nenvironment: e@latest\ninputs:\n  d: {type: uri_file}\n",
        "4:6",
        "inputs.d.path",
        "is required",
    ),
    (
        "command: echo\nenvironment: e@latest\ninputs:\n  n: {type: integer, value: abc}\n",
        "4:29",
        "inputs.n.value",
        "not a valid integer",
    ),
    (
        "command: echo\nenvironment: e@latest\ninputs:\n  2bad: 1\n",
        "4:3",
        "inputs.2bad",
        "not a valid name",
    ),
    (
        "command: echo\nenvironment: e@latest\nlimits: {timeout: 0}\n",
        "3:19",
        "limits.timeout",
        "positive",
    ),
    (
        "command: echo\nenvironment: e@latest\nlimits: {timeout: soon}\n",
        "3:19",
        "limits.timeout",
        "integer",
    ),
    (
        "command: echo\nenvironment: e@latest\nenvironment_variables: {\"A B\": x}\n",
        "3:25",
        "environment_variables.A B",
        "environment variable name",
    ),
    (
        "command: echo\nenvironment: e@latest\nenvironment_variables: {DB: \"pw-${{secrets.db}}\"}\n",
        "3:29",
        "environment_variables.DB",
        "whole value",
    ),
    (
        "command: echo\nenvironment: e@latest\nenvironment_variables: {DB: \"${{secrets.a-b}}\"}\n",
        "3:29",
        "environment_variables.DB",
        "not a valid secret name",
    ),
    (
        "command: echo\nenvironment: e@latest\ntype: sweep\n",
        "3:7",
        "type",
        "not supported yet",
    ),
    (
        "command: [a, b]\nenvironment: e@latest\n",
        "1:10",
        "command",
        "expected a string",
    ),
    (
        "command: echo\nenvironment: e@latest\ntags: [a]\n",
        "3:7",
        "tags",
        "expected a mapping",
    ),
    (
        "command: echo\nenvironment: e@latest\ndistribution: {type: mpi}\n",
        "3:15",
        "distribution.process_count_per_instance",
        "is required",
    ),
    (
        "command: echo\nenvironment:\n  name: x\n  pip: [numpy]\n",
        "3:9",
        "environment.name",
        "inline environment has no name",
    ),
    (
        "command: echo\nenvironment: {python: '3.11'}\n",
        "2:14",
        "environment",
        "needs one of pip",
    ),
    ("- a\n- b\n", "1:1", "", "expected a mapping"),
    (
        "command: echo\n  environment: x\n",
        "2:14",
        "",
        "invalid YAML",
    ),
];

#[test]
fn bad_specs_point_at_the_problem() {
    for (src, at, field, words) in BAD {
        let e = parse_command_job(src, &[])
            .expect_err(src)
            .in_file("job.yml");
        let text = e.to_string();
        let want = if field.is_empty() {
            format!("job.yml:{at}: ")
        } else {
            format!("job.yml:{at}: {field}: ")
        };
        assert!(
            text.lines()
                .any(|l| l.starts_with(&want) && l.contains(words)),
            "spec {src:?}\nwant a line starting with {want:?} containing {words:?}\ngot:\n{text}"
        );
    }
}

#[test]
fn all_problems_are_reported_at_once() {
    let e = parse_command_job("comand: x\nenviroment: y\nfoo: 1\n", &[]).expect_err("bad");
    assert!(e.0.len() >= 4, "{e}");
}

#[test]
fn environments_in_three_forms() {
    let e = parse_environment(
        "name: sk\nversion: 1\npip: [scikit-learn==1.5, pandas]\npython: '3.11'\n",
        &[],
    )
    .expect("pip env");
    assert_eq!(e.meta.name, "sk");
    match e.deps {
        DepsSource::Inline(d) => {
            assert_eq!(d.pip, ["scikit-learn==1.5", "pandas"]);
            assert_eq!(d.python.as_deref(), Some("3.11"));
        }
        other => panic!("{other:?}"),
    }
    let e =
        parse_environment("name: r\npip_requirements: requirements.txt\n", &[]).expect("req env");
    assert_eq!(
        e.deps,
        DepsSource::RequirementsFile("requirements.txt".into())
    );
    let e = parse_environment("name: c\nconda_file: env/conda.yml\n", &[]).expect("conda env");
    assert_eq!(e.deps, DepsSource::CondaFile("env/conda.yml".into()));
    let e = parse_environment("name: i\nimage: python:3.11-slim\n", &[]).expect("image env");
    assert_eq!(e.image.as_deref(), Some("python:3.11-slim"));
    let err = parse_environment("name: x\npip: [a]\nconda_file: c.yml\n", &[]).expect_err("two");
    assert!(err.to_string().contains("only one of"), "{err}");
}

#[test]
fn conda_files_keep_python_and_pip_and_refuse_conda_packages() {
    let d = parse_conda(
        "name: env\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n    - mlflow==3.1\n    - scikit-learn\n",
    )
    .expect("conda");
    assert_eq!(d.python.as_deref(), Some("3.11"));
    assert_eq!(d.pip, ["mlflow==3.1", "scikit-learn"]);
    let e = parse_conda("dependencies:\n  - python=3.11\n  - numpy=1.26\n  - cudatoolkit\n")
        .expect_err("conda-only")
        .in_file("conda.yml");
    let text = e.to_string();
    assert!(
        text.contains("conda.yml:3:5: dependencies[1]: 'numpy=1.26' is a conda package"),
        "{text}"
    );
    assert!(text.contains("'cudatoolkit'"), "{text}");
}

#[test]
fn data_assets() {
    let d = parse_data(
        "name: iris\nversion: 2\ntype: uri_file\npath: data/iris.csv\n",
        &[],
    )
    .expect("data");
    assert_eq!(d.kind, DataType::UriFile);
    assert_eq!(d.path, DataPath::Local("data/iris.csv".into()));
    assert_eq!(d.meta.version.as_deref(), Some("2"));
    for (src, words) in [
        ("name: x\npath: ../../etc/passwd\n", "'..'"),
        ("name: x\npath: /etc/passwd\n", "relative"),
        ("name: x\npath: C:\\x\n", "relative"),
        ("name: x\ntype: mlflow_model\npath: d\n", "not one of"),
        ("name: 'bad name'\npath: d\n", "not a valid asset name"),
    ] {
        let e = parse_data(src, &[]).expect_err(src);
        assert!(e.to_string().contains(words), "{src}: {e}");
    }
}

#[test]
fn json_specs_are_accepted() {
    let j = parse_command_job(
        r#"{"command": "echo ${{inputs.x}}", "environment": "e:1", "inputs": {"x": "hi"}}"#,
        &[],
    )
    .expect("json job");
    assert_eq!(
        j.inputs["x"],
        JobInput::Literal(Literal::String("hi".into()))
    );
}

#[test]
fn whole_value_secret_references_are_accepted_and_listed() {
    let j = mlplane_spec::parse_command_job(
        "command: echo\nenvironment: e@latest\nenvironment_variables: {DB_PASSWORD: \"${{secrets.db_password}}\", PLAIN: x}\n",
        &[],
    )
    .expect("valid");
    let refs = j.secret_refs();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs["DB_PASSWORD"].as_str(), "db_password");
    assert_eq!(
        j.environment_variables["DB_PASSWORD"],
        "${{secrets.db_password}}"
    );
}
