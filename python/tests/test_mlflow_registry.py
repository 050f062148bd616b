"""The unmodified MLflow client driving mlplane's model registry: registered models, versions
from a run's artifacts, aliases, tags, stages, searches, rename, delete and download URIs."""

import uuid

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import RestException


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def run_with_model(tmp_path):
    """A finished run with a `model` directory among its artifacts."""
    mlflow.set_experiment(unique("registry"))
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\x00\x01\x02")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(weights), artifact_path="model")
    return run


def test_registry_lifecycle(run_with_model):
    client = MlflowClient()
    run = run_with_model
    name = unique("abc-model")

    rm = client.create_registered_model(name, tags={"team": "risk"}, description="first")
    assert rm.name == name
    assert rm.description == "first"
    assert rm.tags == {"team": "risk"}

    v1 = client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
    assert v1.version == "1"
    assert v1.status == "READY"
    assert v1.current_stage == "None"
    assert v1.run_id == run.info.run_id
    v2 = client.create_model_version(name, run.info.artifact_uri + "/model", run.info.run_id)
    assert v2.version == "2"

    client.set_registered_model_alias(name, "champion", "1")
    by_alias = client.get_model_version_by_alias(name, "champion")
    assert by_alias.version == "1"
    assert by_alias.aliases == ["champion"]
    client.set_registered_model_alias(name, "champion", "2")
    assert client.get_model_version_by_alias(name, "champion").version == "2"
    assert client.get_registered_model(name).aliases == {"champion": "2"}

    client.set_registered_model_tag(name, "tier", "gold")
    client.set_model_version_tag(name, "2", "validated", "yes")
    assert client.get_model_version(name, "2").tags == {"validated": "yes"}
    client.delete_model_version_tag(name, "2", "validated")
    assert client.get_model_version(name, "2").tags == {}
    client.delete_registered_model_tag(name, "tier")
    assert client.get_registered_model(name).tags == {"team": "risk"}

    staged = client.transition_model_version_stage(name, "1", "Production")
    assert staged.current_stage == "Production"
    client.transition_model_version_stage(name, "2", "production", archive_existing_versions=True)
    assert client.get_model_version(name, "1").current_stage == "Archived"
    assert client.get_model_version(name, "2").current_stage == "Production"
    latest = client.get_latest_versions(name, stages=["Production"])
    assert [v.version for v in latest] == ["2"]

    client.update_model_version(name, "1", description="old one")
    assert client.get_model_version(name, "1").description == "old one"
    client.update_registered_model(name, description="updated")
    assert client.get_registered_model(name).description == "updated"

    uri = client.get_model_version_download_uri(name, "1")
    assert uri == run.info.artifact_uri + "/model"

    found = client.search_registered_models(filter_string="name LIKE 'abc%'")
    assert name in [m.name for m in found]
    versions = client.search_model_versions(f"name='{name}'")
    assert sorted(v.version for v in versions) == ["1", "2"]

    new_name = unique("renamed")
    client.rename_registered_model(name, new_name)
    renamed = client.get_registered_model(new_name)
    assert renamed.aliases == {"champion": "2"}
    assert sorted(v.version for v in client.search_model_versions(f"name='{new_name}'")) == [
        "1",
        "2",
    ]

    client.delete_registered_model_alias(new_name, "champion")
    client.delete_model_version(new_name, "1")
    assert [v.version for v in client.search_model_versions(f"name='{new_name}'")] == ["2"]
    client.delete_registered_model(new_name)
    with pytest.raises(RestException) as err:
        client.get_registered_model(new_name)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_missing_model_and_duplicate_names():
    client = MlflowClient()
    with pytest.raises(RestException) as err:
        client.get_registered_model(unique("missing"))
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    name = unique("dup")
    client.create_registered_model(name)
    with pytest.raises(RestException) as err:
        client.create_registered_model(name)
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_local_file_sources_are_refused():
    client = MlflowClient()
    name = unique("victim")
    client.create_registered_model(name)
    for source in ["file:///etc/passwd", "/etc", "mlflow-artifacts:/1/../../etc"]:
        with pytest.raises(RestException) as err:
            client.create_model_version(name, source)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.search_model_versions(f"name='{name}'") == []
