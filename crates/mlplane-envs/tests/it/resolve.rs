//! Resolving environment specs: referenced files, requirement-line rules, conda files,
//! python versions and the spec hash. No uv needed.

use mlplane_envs::resolve::requirement_line;
use mlplane_envs::{EnvError, ResolvedEnv, spec_hash};
use std::path::Path;

fn env_spec(yaml: &str) -> mlplane_spec::EnvironmentSpec {
    mlplane_spec::parse_environment(yaml, &[]).expect("test spec parses")
}

fn resolve_with(yaml: &str, files: &[(&str, &str)]) -> Result<ResolvedEnv, EnvError> {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write fixture");
    }
    ResolvedEnv::resolve_local(&env_spec(yaml), dir.path())
}

#[test]
fn requirement_lines_are_accepted_or_refused_by_rule() {
    // (line, Some(accepted text) | None for dropped, or Err(part of the reason))
    let ok: &[(&str, Option<&str>)] = &[
        ("six==1.16.0", Some("six==1.16.0")),
        ("  numpy>=1.26,<3  ", Some("numpy>=1.26,<3")),
        ("scikit-learn[extra]~=1.5", Some("scikit-learn[extra]~=1.5")),
        (
            "pandas ; python_version >= \"3.9\"",
            Some("pandas ; python_version >= \"3.9\""),
        ),
        (
            "six==1.16.0 --hash=sha256:abc",
            Some("six==1.16.0 --hash=sha256:abc"),
        ),
        ("six  # pinned later", Some("six")),
        ("", None),
        ("   ", None),
        ("# a comment", None),
        ("  #indented comment", None),
    ];
    for (line, want) in ok {
        assert_eq!(
            requirement_line(line),
            Ok(want.map(str::to_string)),
            "line {line:?}"
        );
    }
    let refused: &[(&str, &str)] = &[
        ("-e .", "pip option"),
        ("-e git+https://example.com/x.git", "pip option"),
        ("--editable=./pkg", "pip option"),
        ("--index-url https://evil.example/simple", "pip option"),
        (
            "--extra-index-url https://evil.example/simple",
            "pip option",
        ),
        ("-i https://evil.example/simple", "pip option"),
        ("-r other.txt", "pip option"),
        ("--requirement=other.txt", "pip option"),
        ("-c constraints.txt", "pip option"),
        ("--find-links /tmp/wheels", "pip option"),
        ("-f ./wheels", "pip option"),
        ("file:///etc/passwd", "local path"),
        ("file:pkg", "local path"),
        ("/opt/pkg", "local path"),
        ("./pkg", "local path"),
        ("../pkg", "local path"),
        ("~/pkg", "local path"),
        ("pkg/sub", "local path"),
        ("foo-1.0-py3-none-any.whl", "local archive"),
        ("foo-1.0.tar.gz", "local archive"),
        (
            "six @ https://example.com/six.whl",
            "URL or direct reference",
        ),
        ("six@https:x", "URL or direct reference"),
        ("git+https:x", "URL or direct reference"),
        ("six==1.0 --global-option=--x", "option"),
        ("six==1.0 -e", "option"),
        ("six\\", "backslash"),
        ("six\u{7}", "control"),
        ("_six", "package name"),
    ];
    for (line, why) in refused {
        match requirement_line(line) {
            Err(m) => assert!(
                m.contains(why),
                "line {line:?}: {m:?} should mention {why:?}"
            ),
            Ok(v) => panic!("line {line:?} was accepted as {v:?}"),
        }
    }
    assert!(requirement_line(&"a".repeat(1001)).is_err());
}

#[test]
fn requirements_file_keeps_order_and_drops_comments() {
    let env = resolve_with(
        "name: e\npip_requirements: requirements.txt\n",
        &[(
            "requirements.txt",
            "# deps\nzlib-thing==1\n\nsix==1.16.0\n  attrs  \n",
        )],
    )
    .expect("resolves");
    assert_eq!(env.requirements, ["zlib-thing==1", "six==1.16.0", "attrs"]);
    assert_eq!(env.python, None);
    assert_eq!(env.image, None);
}

#[test]
fn refused_line_in_requirements_file_names_file_and_line() {
    let err = resolve_with(
        "name: e\npip_requirements: reqs.txt\n",
        &[("reqs.txt", "six\n\n-e ../secret\n")],
    )
    .expect_err("refused");
    match &err {
        EnvError::Invalid {
            file,
            line,
            message,
        } => {
            assert_eq!(file.as_deref(), Some("reqs.txt"));
            assert_eq!(*line, Some(3));
            assert!(message.contains("-e ../secret"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().starts_with("reqs.txt:3: "), "{err}");
}

#[test]
fn missing_file_is_invalid_and_named() {
    let err = resolve_with("name: e\npip_requirements: nope.txt\n", &[]).expect_err("missing");
    match err {
        EnvError::Invalid { file, .. } => assert_eq!(file.as_deref(), Some("nope.txt")),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn inline_pip_and_python_are_resolved() {
    let env = resolve_with("name: e\npython: '3.11'\npip: [six==1.16.0, attrs]\n", &[])
        .expect("resolves");
    assert_eq!(env.python.as_deref(), Some("3.11"));
    assert_eq!(env.requirements, ["six==1.16.0", "attrs"]);
    let err =
        resolve_with("name: e\npip: [six, '--index-url=https://x']\n", &[]).expect_err("refused");
    assert!(err.to_string().contains("pip[1]"), "{err}");
}

#[test]
fn python_version_must_be_digits_and_dots() {
    for bad in ["--python=/bin/sh", "3.11; rm", "latest", "3..1"] {
        let spec = mlplane_spec::EnvironmentSpec {
            meta: Default::default(),
            image: None,
            deps: mlplane_spec::assets::DepsSource::Inline(mlplane_spec::PythonDeps {
                python: Some(bad.into()),
                pip: vec![],
            }),
        };
        let r = ResolvedEnv::resolve(&spec, Path::new("."), |_| unreachable!());
        assert!(matches!(r, Err(EnvError::Invalid { .. })), "{bad}: {r:?}");
    }
}

#[test]
fn conda_file_gives_python_and_pip_section() {
    let env = resolve_with(
        "name: e\nconda_file: env.yml\n",
        &[(
            "env.yml",
            "name: x\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n    - six==1.16.0\n",
        )],
    )
    .expect("resolves");
    assert_eq!(env.python.as_deref(), Some("3.11"));
    assert_eq!(env.requirements, ["six==1.16.0"]);
}

#[test]
fn conda_only_package_is_refused_naming_the_file() {
    let err = resolve_with(
        "name: e\nconda_file: env.yml\n",
        &[(
            "env.yml",
            "dependencies:\n  - python=3.11\n  - numpy\n  - pip:\n    - six\n",
        )],
    )
    .expect_err("numpy is conda-only here");
    match &err {
        EnvError::Invalid {
            file,
            line,
            message,
        } => {
            assert_eq!(file.as_deref(), Some("env.yml"));
            assert_eq!(*line, Some(3));
            assert!(message.contains("numpy"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn refused_line_in_conda_pip_section_names_the_file() {
    let err = resolve_with(
        "name: e\nconda_file: env.yml\n",
        &[("env.yml", "dependencies:\n  - pip:\n    - -e /src\n")],
    )
    .expect_err("refused");
    assert!(
        matches!(&err, EnvError::Invalid { file: Some(f), .. } if f == "env.yml"),
        "{err:?}"
    );
}

#[test]
fn hand_made_spec_cannot_read_outside_its_folder() {
    let spec = mlplane_spec::EnvironmentSpec {
        meta: Default::default(),
        image: None,
        deps: mlplane_spec::assets::DepsSource::RequirementsFile("../etc/passwd".into()),
    };
    let r = ResolvedEnv::resolve(&spec, Path::new("/tmp"), |_| unreachable!());
    assert!(matches!(r, Err(EnvError::Invalid { .. })), "{r:?}");
}

#[test]
fn spec_hash_is_stable_and_order_sensitive() {
    let a = ResolvedEnv {
        python: Some("3.11".into()),
        requirements: vec!["six==1.16.0".into(), "attrs".into()],
        image: None,
    };
    let b = ResolvedEnv {
        requirements: vec!["attrs".into(), "six==1.16.0".into()],
        ..a.clone()
    };
    let c = ResolvedEnv {
        python: None,
        ..a.clone()
    };
    assert_eq!(spec_hash(&a), spec_hash(&a.clone()));
    assert_eq!(spec_hash(&a).len(), 64);
    assert_ne!(spec_hash(&a), spec_hash(&b));
    assert_ne!(spec_hash(&a), spec_hash(&c));
    // The canonical text is part of the cache format: changing it invalidates every
    // cached environment, so it is pinned here.
    assert_eq!(
        a.canonical_text(),
        "mlplane-env v1\npython: 3.11\nrequirement: six==1.16.0\nrequirement: attrs\n"
    );
    assert_eq!(
        spec_hash(&a),
        "45696ec6071838cd35a4cd36f4e22d4366e433ee154131bad9669f2f6ed1978f"
    );
}
