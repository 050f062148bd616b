"""The unmodified MLflow 3 client using logged models against mlplane: the client API
(create, finalize, search, tags, params) and `mlflow.sklearn.log_model` inside a run followed
by `load_model` and a prediction."""

import uuid

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_client_logged_model_lifecycle():
    exp_id = mlflow.set_experiment(unique("lm")).experiment_id
    client = MlflowClient()
    model = client.create_logged_model(
        experiment_id=exp_id,
        name="my-model",
        params={"alpha": "0.5"},
        tags={"team": "a"},
        model_type="custom",
    )
    assert model.model_id.startswith("m-")
    assert model.status == LoggedModelStatus.PENDING
    assert model.params == {"alpha": "0.5"}
    assert model.tags["team"] == "a"
    assert model.artifact_location.endswith(f"/models/{model.model_id}/artifacts")

    client.set_logged_model_tags(model.model_id, {"stage": "dev"})
    client.log_model_params(model.model_id, {"beta": "2"})
    ready = client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    assert ready.status == LoggedModelStatus.READY

    got = client.get_logged_model(model.model_id)
    assert got.params == {"alpha": "0.5", "beta": "2"}
    assert got.tags["stage"] == "dev"

    other = mlflow.initialize_logged_model(name="other-model", experiment_id=exp_id)
    found = client.search_logged_models(experiment_ids=[exp_id])
    assert {m.model_id for m in found} == {model.model_id, other.model_id}
    found = client.search_logged_models(
        experiment_ids=[exp_id], filter_string="name = 'my-model' AND tags.stage = 'dev'"
    )
    assert [m.model_id for m in found] == [model.model_id]
    by_name = client.search_logged_models(
        experiment_ids=[exp_id], order_by=[{"field_name": "name", "ascending": True}]
    )
    assert [m.name for m in by_name] == ["my-model", "other-model"]

    client.delete_logged_model_tag(model.model_id, "stage")
    assert "stage" not in client.get_logged_model(model.model_id).tags
    client.delete_logged_model(model.model_id)
    with pytest.raises(MlflowException):
        client.get_logged_model(model.model_id)


def test_sklearn_log_model_and_load_model():
    from sklearn.linear_model import LinearRegression

    mlflow.set_experiment(unique("sk"))
    x = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 4.0], [4.0, 3.0], [5.0, 7.0]])
    y = x @ np.array([1.5, -0.5]) + 2.0
    reg = LinearRegression().fit(x, y)
    with mlflow.start_run() as run:
        mlflow.log_param("fit_intercept", "true")
        info = mlflow.sklearn.log_model(reg, name="model")
    assert info.model_id.startswith("m-")
    assert info.run_id == run.info.run_id

    model = MlflowClient().get_logged_model(info.model_id)
    assert model.status == LoggedModelStatus.READY
    assert model.source_run_id == run.info.run_id
    assert model.params.get("fit_intercept") == "true"

    loaded = mlflow.sklearn.load_model(info.model_uri)
    np.testing.assert_allclose(loaded.predict(x), reg.predict(x))
    pyfunc = mlflow.pyfunc.load_model(f"models:/{info.model_id}")
    np.testing.assert_allclose(pyfunc.predict(x), reg.predict(x))
    # The 3.x client also finds the model below the run (`runs:/<run_id>/model`).
    by_run = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_allclose(by_run.predict(x), reg.predict(x))
    files = {f.path for f in MlflowClient().list_artifacts(run.info.run_id, "model")}
    assert "model/MLmodel" in files


def test_run_outputs_name_the_logged_models():
    from mlflow.entities import LoggedModelOutput
    from sklearn.linear_model import LinearRegression

    mlflow.set_experiment(unique("out"))
    x = np.array([[1.0], [2.0], [3.0]])
    reg = LinearRegression().fit(x, np.array([1.0, 2.0, 3.0]))
    client = MlflowClient()
    with mlflow.start_run() as run:
        # log_model records the model as an output of the run (step 0 by default) ...
        info = mlflow.sklearn.log_model(reg, name="model")
        # ... and log_outputs records more, each with the step it was logged at.
        extra = client.create_logged_model(experiment_id=run.info.experiment_id, name="extra")
        mlflow.log_outputs(models=[LoggedModelOutput(model_id=extra.model_id, step=7)])
        # Logging the same model again keeps its first step.
        mlflow.log_outputs(models=[LoggedModelOutput(model_id=extra.model_id, step=9)])
    got = client.get_run(run.info.run_id)
    assert got.outputs is not None
    outputs = [(o.model_id, o.step) for o in got.outputs.model_outputs]
    assert outputs == [(info.model_id, 0), (extra.model_id, 7)]
    found = client.search_runs([run.info.experiment_id])
    assert [(o.model_id, o.step) for o in found[0].outputs.model_outputs] == outputs
    # A run without outputs has none.
    with mlflow.start_run() as plain:
        pass
    none = client.get_run(plain.info.run_id).outputs
    assert none is None or none.model_outputs == []
    # A model that does not exist is RESOURCE_DOES_NOT_EXIST and records nothing.
    with pytest.raises(MlflowException) as e:
        client.log_outputs(
            run.info.run_id, [LoggedModelOutput(model_id="m-" + "0" * 32, step=1)]
        )
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    again = [(o.model_id, o.step) for o in client.get_run(run.info.run_id).outputs.model_outputs]
    assert again == outputs


def test_run_metrics_sent_again_with_a_model_id_are_stored_once():
    mlflow.set_experiment(unique("lmm"))
    client = MlflowClient()
    with mlflow.start_run() as run:
        model = mlflow.initialize_logged_model(name="m")
        for _ in range(2):
            mlflow.log_metric("acc", 0.75, step=1, timestamp=1000, model_id=model.model_id)
    history = client.get_metric_history(run.info.run_id, "acc")
    assert [(m.step, m.timestamp, m.value) for m in history] == [(1, 1000, 0.75)]
    metrics = client.get_logged_model(model.model_id).metrics
    assert [(m.key, m.step, m.value) for m in metrics] == [("acc", 1, 0.75)]


def _part_puts(tracking_uri):
    """How many part uploads the server has answered with 200, from its /metrics."""
    import requests

    text = requests.get(f"{tracking_uri}/metrics", timeout=10).text
    total = 0
    for line in text.splitlines():
        if (
            line.startswith("mlplane_http_requests_total{")
            and 'method="PUT"' in line
            and "/mpu/part/" in line
            and 'status="200"' in line
        ):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def test_multipart_upload_of_a_large_artifact(tmp_path, monkeypatch, tracking_uri):
    import hashlib
    import os

    mib = 1024 * 1024
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(10 * mib))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(40 * mib))
    big = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with open(big, "wb") as f:
        for _ in range(120):
            block = os.urandom(mib)
            digest.update(block)
            f.write(block)
    before = _part_puts(tracking_uri)

    mlflow.set_experiment(unique("mpu"))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(big), artifact_path="data")

    assert _part_puts(tracking_uri) - before == 3
    listed = MlflowClient().list_artifacts(run.info.run_id, "data")
    assert [(f.path, f.file_size) for f in listed] == [("data/big.bin", 120 * mib)]
    out = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="data/big.bin", dst_path=str(tmp_path / "dl")
    )
    got = hashlib.sha256()
    with open(out, "rb") as f:
        for block in iter(lambda: f.read(mib), b""):
            got.update(block)
    assert got.hexdigest() == digest.hexdigest()


def _metric_scenario(client):
    """Logs model metrics through `client` the way a 3.x client does and runs a table of
    metric searches; returns what a caller can compare across servers (names, and metrics
    with run and model ids replaced by placeholders)."""
    import time

    from mlflow.entities import Metric

    exp_id = client.create_experiment(unique("lm-metrics"))
    run_id = client.create_run(exp_id).info.run_id
    ids = {}
    for name in ["a", "b", "c", "d"]:
        ids[name] = client.create_logged_model(experiment_id=exp_id, name=name).model_id
        time.sleep(0.01)  # distinct creation times, MLflow's tie-breaker
    client.log_metric(
        run_id, "acc", 0.9, timestamp=10, step=1, model_id=ids["a"],
        dataset_name="eval", dataset_digest="d1",
    )
    client.log_batch(
        run_id,
        metrics=[
            Metric("acc", 0.3, 11, 2, model_id=ids["a"]),
            Metric("acc", 0.5, 10, 1, model_id=ids["b"], dataset_name="eval",
                   dataset_digest="d1"),
            Metric("acc", 0.7, 12, 1, model_id=ids["c"], dataset_name="train",
                   dataset_digest="d2"),
            Metric("loss", 0.2, 10, 1, model_id=ids["c"], dataset_name="train",
                   dataset_digest="d2"),
            Metric("plain", 1.0, 10, 1),
        ],
    )
    searches = [
        dict(filter_string="metrics.acc > 0.4"),
        dict(filter_string="metrics.acc <= 0.3"),
        dict(filter_string="metrics.acc > 0.8 AND name = 'a'"),
        dict(filter_string="metrics.loss < 1 AND metrics.acc >= 0.7"),
        dict(filter_string="metrics.acc > 0.4", datasets=[{"dataset_name": "eval"}]),
        dict(datasets=[{"dataset_name": "train", "dataset_digest": "d2"}]),
        dict(datasets=[{"dataset_name": "train", "dataset_digest": "other"}]),
        dict(order_by=[{"field_name": "metrics.acc", "ascending": False}]),
        dict(order_by=[{"field_name": "metrics.acc", "ascending": True}]),
        dict(order_by=[{"field_name": "metrics.acc", "ascending": False,
                        "dataset_name": "eval"}]),
        dict(order_by=[{"field_name": "metrics.loss", "ascending": True},
                       {"field_name": "name", "ascending": False}]),
    ]
    found = [
        [m.name for m in client.search_logged_models(experiment_ids=[exp_id], **s)]
        for s in searches
    ]
    placeholders = {run_id: "RUN", **{v: k for k, v in ids.items()}}
    metrics = {
        name: sorted(
            (m.key, m.value, m.timestamp, m.step, m.dataset_name, m.dataset_digest,
             placeholders.get(m.run_id), placeholders.get(m.model_id))
            for m in (client.get_logged_model(mid).metrics or [])
        )
        for name, mid in ids.items()
    }
    history = sorted(
        (m.value, m.step) for m in client.get_metric_history(run_id, "acc")
    )
    return found, metrics, history


def test_model_metrics_and_metric_searches_match_mlflows_own_store(tmp_path):
    """The same calls through the real client against mlplane and against MLflow's own
    SQL store (the store `mlflow server` runs on, here in-process on a SQLite file) give
    the same models, metrics and search results."""
    ours = _metric_scenario(MlflowClient())
    reference = _metric_scenario(MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/ref.db"))
    assert ours == reference
    found, metrics, _ = ours
    # Spelled out, so a change in both cannot pass unnoticed.
    assert found[0] == ["c", "b", "a"]
    assert found[7] == ["c", "b", "a", "d"]
    assert metrics["a"] == [
        ("acc", 0.3, 11, 2, None, None, "RUN", "a"),
        ("acc", 0.9, 10, 1, "eval", "d1", "RUN", "a"),
    ]
    assert metrics["d"] == []


def test_metrics_logged_during_autolog_belong_to_the_logged_model():
    from sklearn.linear_model import LinearRegression

    mlflow.set_experiment(unique("autolog-metrics"))
    x = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 4.0], [4.0, 3.0], [5.0, 7.0]])
    y = x @ np.array([1.5, -0.5]) + 2.0
    mlflow.sklearn.autolog()
    try:
        with mlflow.start_run() as run:
            LinearRegression().fit(x, y)
            mlflow.log_metric("custom_score", 0.75)
    finally:
        mlflow.sklearn.autolog(disable=True)
    model = mlflow.last_logged_model()
    assert model is not None
    got = mlflow.get_logged_model(model.model_id)
    by_key = {m.key: m for m in got.metrics}
    assert by_key["custom_score"].value == 0.75
    assert by_key["custom_score"].run_id == run.info.run_id
    assert "training_score" in by_key
    found = MlflowClient().search_logged_models(
        experiment_ids=[run.info.experiment_id], filter_string="metrics.custom_score > 0.5"
    )
    assert [m.model_id for m in found] == [model.model_id]
