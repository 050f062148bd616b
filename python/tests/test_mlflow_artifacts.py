"""The unmodified MLflow client logging, listing and downloading artifacts through mlplane's
MLflow artifact proxy (`mlflow-artifacts:` URIs)."""

import filecmp
import os
import uuid

import mlflow
import pytest
from mlflow import MlflowClient


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


@pytest.fixture
def tree(tmp_path):
    """A small directory tree to log with log_artifacts."""
    root = tmp_path / "tree"
    write(str(root / "a.txt"), b"alpha\n")
    write(str(root / "sub" / "b.bin"), bytes(range(256)) * 4)
    write(str(root / "sub" / "deeper" / "c.json"), b'{"c": 1}')
    return root


def listing(run_id, path=None):
    return {(f.path, f.is_dir, f.file_size) for f in MlflowClient().list_artifacts(run_id, path)}


def test_log_list_download_round_trip(tmp_path, tree):
    mlflow.set_experiment(unique("art"))
    single = tmp_path / "model.txt"
    single.write_bytes(b"weights\n")
    with mlflow.start_run() as run:
        assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
        mlflow.log_artifact(str(single))
        mlflow.log_artifacts(str(tree), artifact_path="d")
        mlflow.log_text("hello text", "notes/readme.txt")
    run_id = run.info.run_id

    assert listing(run_id) == {
        ("model.txt", False, 8),
        ("d", True, None),
        ("notes", True, None),
    }
    assert listing(run_id, "d") == {
        ("d/a.txt", False, 6),
        ("d/sub", True, None),
    }
    assert listing(run_id, "d/sub") == {
        ("d/sub/b.bin", False, 1024),
        ("d/sub/deeper", True, None),
    }

    dst = tmp_path / "out"
    dst.mkdir()
    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="d", dst_path=str(dst))
    cmp = filecmp.dircmp(str(tree), local)
    assert not cmp.left_only and not cmp.right_only and not cmp.diff_files
    for rel in ["a.txt", "sub/b.bin", "sub/deeper/c.json"]:
        assert (tree / rel).read_bytes() == open(os.path.join(local, rel), "rb").read()

    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/readme.txt") == "hello text"
    one = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="model.txt", dst_path=str(tmp_path / "one")
    )
    assert open(one, "rb").read() == b"weights\n"


def test_large_file_round_trip(tmp_path):
    mlflow.set_experiment(unique("big"))
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * 1024 * 1024))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(big), artifact_path="blobs")
    assert listing(run.info.run_id, "blobs") == {("blobs/big.bin", False, 20 * 1024 * 1024)}
    local = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="blobs/big.bin", dst_path=str(tmp_path / "dl")
    )
    assert filecmp.cmp(str(big), local, shallow=False)


def test_tracking_side_listing(mlplane_url):
    import requests

    mlflow.set_experiment(unique("ls"))
    with mlflow.start_run() as run:
        mlflow.log_text("x", "d/e/f.txt")
        mlflow.log_text("yy", "d/g.txt")
    r = requests.get(
        f"{mlplane_url}/api/2.0/mlflow/artifacts/list",
        params={"run_id": run.info.run_id, "path": "d"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["root_uri"] == run.info.artifact_uri
    assert body["files"] == [
        {"path": "d/e", "is_dir": True},
        {"path": "d/g.txt", "is_dir": False, "file_size": 2},
    ]


def test_hostile_proxy_paths_are_refused(mlplane_url):
    import requests

    mlflow.set_experiment(unique("evil"))
    with mlflow.start_run() as run:
        pass
    root = run.info.artifact_uri.removeprefix("mlflow-artifacts:/")
    base = f"{mlplane_url}/api/2.0/mlflow-artifacts/artifacts"
    for tail in ["%2e%2e/%2e%2e/x", "a/..%2f..%2fx", "..%5cx", "a%00b"]:
        r = requests.put(f"{base}/{root}/{tail}", data=b"evil", timeout=10)
        assert r.status_code == 400, (tail, r.text)
        assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert MlflowClient().list_artifacts(run.info.run_id) == []
