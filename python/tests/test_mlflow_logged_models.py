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
