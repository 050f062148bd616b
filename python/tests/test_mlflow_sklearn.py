"""scikit-learn end to end through the unmodified MLflow client: autolog, log_model,
register, alias, load by alias and predict, then registry search and deletion."""

import uuid

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import RestException
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture()
def iris():
    x, y = load_iris(return_X_y=True)
    return x, y


def test_autolog_records_params_metrics_and_model(iris):
    x, y = iris
    mlflow.set_experiment(unique("autolog"))
    mlflow.sklearn.autolog(log_input_examples=False, log_model_signatures=True)
    try:
        with mlflow.start_run() as run:
            LogisticRegression(max_iter=200, C=0.5).fit(x, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    got = MlflowClient().get_run(run.info.run_id)
    assert got.data.params["C"] == "0.5"
    assert got.data.params["max_iter"] == "200"
    assert got.data.metrics["training_accuracy_score"] > 0.9
    assert got.data.tags["estimator_name"] == "LogisticRegression"
    models = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id], output_format="list"
    )
    assert any(m.source_run_id == run.info.run_id for m in models)


def test_log_model_register_alias_load_predict(iris):
    x, y = iris
    name = unique("iris-clf")
    client = MlflowClient()
    mlflow.set_experiment(unique("registry-e2e"))
    with mlflow.start_run():
        clf = LogisticRegression(max_iter=200).fit(x, y)
        info = mlflow.sklearn.log_model(clf, name="model", registered_model_name=name)
    assert str(info.registered_model_version) == "1"
    version = client.get_model_version(name, "1")
    assert version.status == "READY"
    # The 3.17 client does not read model_id from the REST answer; the source names it.
    assert version.source == f"models:/{info.model_id}"

    client.set_registered_model_alias(name, "champion", "1")
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    np.testing.assert_array_equal(loaded.predict(x[:10]), clf.predict(x[:10]))
    by_version = mlflow.sklearn.load_model(f"models:/{name}/1")
    np.testing.assert_array_equal(by_version.predict(x), clf.predict(x))

    # A second version through register_model, from the run's model URI.
    mv = mlflow.register_model(info.model_uri, name)
    assert mv.version == "2"
    found = client.search_model_versions(f"name = '{name}'")
    assert sorted(v.version for v in found) == ["1", "2"]
    assert [m.name for m in client.search_registered_models(f"name = '{name}'")] == [name]

    client.delete_registered_model(name)
    with pytest.raises(RestException) as e:
        client.get_registered_model(name)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
