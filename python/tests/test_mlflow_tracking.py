"""The unmodified MLflow tracking client against mlplane's MLflow REST API."""

import math
import uuid

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_server_health(mlplane_url):
    import requests

    r = requests.get(f"{mlplane_url}/health", timeout=10)
    assert r.status_code == 200
    assert r.text == "OK"
    assert requests.get(f"{mlplane_url}/version", timeout=10).status_code == 200


def test_fluent_run_round_trip():
    name = unique("x")
    exp = mlflow.set_experiment(name)
    assert exp.name == name
    assert exp.artifact_location.startswith("mlflow-artifacts:/")

    with mlflow.start_run(run_name="r") as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "opt": "adam"})
        for step, v in enumerate([1.0, 0.5, float("nan")]):
            mlflow.log_metric("loss", v, step=step)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8}, step=2)
        mlflow.set_tag("team", "ml")
        mlflow.set_tags({"stage": "dev", "owner": "me"})
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("inner", 1.5)
    run_id = run.info.run_id

    client = MlflowClient()
    got = client.get_run(run_id)
    assert got.info.run_name == "r"
    assert got.info.status == "FINISHED"
    assert got.info.end_time is not None
    assert got.info.experiment_id == exp.experiment_id
    assert got.data.params == {"lr": "0.01", "layers": "3", "opt": "adam"}
    assert got.data.metrics["acc"] == pytest.approx(0.9)
    assert got.data.metrics["f1"] == pytest.approx(0.8)
    assert math.isnan(got.data.metrics["loss"])
    assert got.data.tags["team"] == "ml"
    assert got.data.tags["stage"] == "dev"
    assert got.data.tags["owner"] == "me"
    assert got.data.tags["mlflow.runName"] == "r"

    history = client.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == [0, 1, 2]
    assert history[0].value == 1.0
    assert history[1].value == 0.5
    assert math.isnan(history[2].value)
    assert client.get_metric_history(run_id, "never-logged") == []

    nested = client.get_run(child.info.run_id)
    assert nested.data.tags["mlflow.parentRunId"] == run_id
    assert nested.info.status == "FINISHED"
    assert nested.data.metrics["inner"] == 1.5


def test_run_lifecycle_and_experiment_admin():
    client = MlflowClient()
    exp_id = client.create_experiment(unique("admin"), tags={"k": "v"})
    assert client.get_experiment(exp_id).tags == {"k": "v"}
    run = client.create_run(exp_id, run_name="life")
    run_id = run.info.run_id
    assert run.info.status == "RUNNING"
    assert run.data.tags["mlflow.runName"] == "life"

    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    client.restore_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "active"

    client.set_tag(run_id, "mlflow.runName", "renamed")
    assert client.get_run(run_id).info.run_name == "renamed"
    client.set_tag(run_id, "gone", "soon")
    client.delete_tag(run_id, "gone")
    assert "gone" not in client.get_run(run_id).data.tags
    client.set_terminated(run_id, status="KILLED")
    assert client.get_run(run_id).info.status == "KILLED"

    new_name = unique("renamed")
    client.rename_experiment(exp_id, new_name)
    assert client.get_experiment(exp_id).name == new_name
    assert client.get_experiment_by_name(new_name).experiment_id == exp_id
    client.set_experiment_tag(exp_id, "k2", "v2")
    assert client.get_experiment(exp_id).tags["k2"] == "v2"

    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"


def test_unknown_run_is_resource_does_not_exist():
    with pytest.raises(MlflowException) as info:
        MlflowClient().get_run("0" * 32)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_unknown_experiment_by_name_is_none():
    assert MlflowClient().get_experiment_by_name(unique("missing")) is None


def test_param_overwrite_is_invalid_parameter_value():
    client = MlflowClient()
    run = client.create_run("0")
    run_id = run.info.run_id
    client.log_param(run_id, "p", "1")
    client.log_param(run_id, "p", "1")  # the same value again is fine
    with pytest.raises(MlflowException) as info:
        client.log_param(run_id, "p", "2")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run_id).data.params == {"p": "1"}


def test_duplicate_experiment_is_resource_already_exists():
    client = MlflowClient()
    name = unique("dup")
    client.create_experiment(name)
    with pytest.raises(MlflowException) as info:
        client.create_experiment(name)
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"
