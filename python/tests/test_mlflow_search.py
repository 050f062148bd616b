"""Searches, datasets and workspaces through the unmodified MLflow client.

The runs search table compares whole result lists (names, in order) for a set of filters and
orderings over a small fixed experiment; the workspace test runs the same calls through the
root URL and through `/w/<workspace>` and checks neither sees the other's data.
"""

import uuid

import mlflow
import pandas as pd
import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import DatasetInput, InputTag
from mlflow.exceptions import MlflowException, RestException


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# name, start offset, metrics, params, tags
RUNS = [
    ("alpha", 1, {"acc": 0.9, "loss": 0.3}, {"lr": "0.1", "opt": "adam"}, {"team": "vision"}),
    ("beta", 2, {"acc": 0.7}, {"lr": "0.01", "opt": "sgd"}, {"team": "nlp"}),
    ("gamma", 3, {"acc": float("nan")}, {"lr": "0.1"}, {"team": "Vision"}),
    ("delta", 4, {}, {"opt": "adam"}, {}),
    ("alphabet", 5, {"acc": 0.95, "loss": 0.1}, {}, {}),
]


@pytest.fixture(scope="module")
def search_exp():
    client = MlflowClient()
    exp_id = client.create_experiment(unique("search"))
    ids = {}
    for name, offset, metrics, params, tags in RUNS:
        run = client.create_run(exp_id, run_name=name, start_time=1_700_000_000_000 + offset)
        for k, v in metrics.items():
            client.log_metric(run.info.run_id, k, v, step=0)
        for k, v in params.items():
            client.log_param(run.info.run_id, k, v)
        for k, v in tags.items():
            client.set_tag(run.info.run_id, k, v)
        ids[name] = run.info.run_id
    client.set_terminated(ids["beta"], status="FINISHED")
    df = pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]})
    dataset = mlflow.data.from_pandas(df, name="iris")._to_mlflow_entity()
    context = InputTag(key="mlflow.data.context", value="training")
    client.log_inputs(ids["alphabet"], datasets=[DatasetInput(dataset=dataset, tags=[context])])
    client.set_terminated(ids["alphabet"], status="FINISHED")
    return exp_id, ids


def names(runs):
    return [r.info.run_name for r in runs]


FILTERS = [
    ("", ["alphabet", "delta", "gamma", "beta", "alpha"]),
    ("metrics.acc > 0.8", ["alphabet", "alpha"]),
    ("metrics.acc != 0.7", ["alphabet", "alpha"]),
    ("metrics.loss <= 0.1", ["alphabet"]),
    ("params.lr = '0.1'", ["gamma", "alpha"]),
    ("params.lr != '0.1'", ["beta"]),
    ("params.opt = 'adam' and metrics.acc >= 0.9", ["alpha"]),
    ("tags.team LIKE 'vis%'", ["alpha"]),
    ("tags.team ILIKE 'vis%'", ["gamma", "alpha"]),
    ("tags.team LIKE '_lp'", ["beta"]),
    ("attributes.run_name LIKE 'alpha%'", ["alphabet", "alpha"]),
    ("run_name = 'beta'", ["beta"]),
    ("tags.`mlflow.runName` = 'delta'", ["delta"]),
    # beta and alphabet were terminated.
    ("attributes.status = 'FINISHED'", ["alphabet", "beta"]),
    ("attributes.status != 'FINISHED'", ["delta", "gamma", "alpha"]),
    ("datasets.name = 'iris'", ["alphabet"]),
    ("datasets.context = 'training'", ["alphabet"]),
    ("datasets.name IN ('iris', 'other')", ["alphabet"]),
]


@pytest.mark.parametrize("filter_string,expected", FILTERS)
def test_search_runs_filters(search_exp, filter_string, expected):
    exp_id, _ = search_exp
    got = MlflowClient().search_runs([exp_id], filter_string=filter_string)
    assert names(got) == expected


ORDERINGS = [
    (["metrics.acc ASC"], ["beta", "alpha", "alphabet", "gamma", "delta"]),
    (["metrics.acc DESC"], ["alphabet", "alpha", "beta", "gamma", "delta"]),
    (["params.opt ASC", "attributes.start_time ASC"], ["alpha", "delta", "beta", "gamma", "alphabet"]),
    (["attributes.run_name DESC"], ["gamma", "delta", "beta", "alphabet", "alpha"]),
    (["attributes.start_time ASC"], ["alpha", "beta", "gamma", "delta", "alphabet"]),
]


@pytest.mark.parametrize("order_by,expected", ORDERINGS)
def test_search_runs_orderings_and_paging(search_exp, order_by, expected):
    exp_id, _ = search_exp
    client = MlflowClient()
    assert names(client.search_runs([exp_id], order_by=order_by)) == expected
    paged, token = [], None
    while True:
        page = client.search_runs([exp_id], order_by=order_by, max_results=2, page_token=token)
        paged.extend(names(page))
        token = page.token
        if not token:
            break
    assert paged == expected


def test_search_runs_in_ids_and_dataframe(search_exp):
    exp_id, ids = search_exp
    f = f"attributes.run_id IN ('{ids['alpha']}', '{ids['beta']}')"
    assert names(MlflowClient().search_runs([exp_id], filter_string=f)) == ["beta", "alpha"]
    df = mlflow.search_runs([exp_id], filter_string="metrics.acc > 0.8", order_by=["metrics.acc DESC"])
    assert list(df["tags.mlflow.runName"]) == ["alphabet", "alpha"]
    assert list(df["metrics.acc"]) == [0.95, 0.9]


def test_run_inputs_come_back(search_exp):
    _, ids = search_exp
    run = MlflowClient().get_run(ids["alphabet"])
    (inp,) = run.inputs.dataset_inputs
    assert inp.dataset.name == "iris"
    assert inp.dataset.source_type
    assert {t.key: t.value for t in inp.tags}["mlflow.data.context"] == "training"


@pytest.mark.parametrize(
    "bad",
    ["metrics.acc >> 1", "params.x = 'open", "metrics.acc > 1 OR params.a = 'b'", "attributes.nope = 1"],
)
def test_bad_filters_are_invalid_parameter_value(search_exp, bad):
    exp_id, _ = search_exp
    with pytest.raises(MlflowException) as e:
        MlflowClient().search_runs([exp_id], filter_string=bad)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "position" in e.value.message


def test_search_experiments():
    client = MlflowClient()
    prefix = unique("srch")
    for suffix, tags in [("b", {}), ("a", {"owner": "me"}), ("c", {})]:
        client.create_experiment(f"{prefix}-{suffix}", tags=tags)
    got = client.search_experiments(filter_string=f"name LIKE '{prefix}-%'", order_by=["name DESC"])
    assert [e.name for e in got] == [f"{prefix}-c", f"{prefix}-b", f"{prefix}-a"]
    got = client.search_experiments(filter_string=f"name LIKE '{prefix}%' AND tags.owner = 'me'")
    assert [e.name for e in got] == [f"{prefix}-a"]
    page = client.search_experiments(filter_string=f"name LIKE '{prefix}-%'", max_results=2, order_by=["name"])
    assert [e.name for e in page] == [f"{prefix}-a", f"{prefix}-b"]
    rest = client.search_experiments(
        filter_string=f"name LIKE '{prefix}-%'", max_results=2, order_by=["name"], page_token=page.token
    )
    assert [e.name for e in rest] == [f"{prefix}-c"]
    exp = client.get_experiment_by_name(f"{prefix}-b")
    client.delete_experiment(exp.experiment_id)
    deleted = client.search_experiments(
        view_type=mlflow.entities.ViewType.DELETED_ONLY, filter_string=f"name LIKE '{prefix}-%'"
    )
    assert [e.name for e in deleted] == [f"{prefix}-b"]


def exercise(uri, tmp_path, tag):
    """The same calls through one tracking URI; returns what they created."""
    client = MlflowClient(tracking_uri=uri)
    exp_id = client.create_experiment("shared-name")
    run = client.create_run(exp_id, run_name=f"run-{tag}")
    rid = run.info.run_id
    client.log_metric(rid, "m", 1.0)
    client.log_param(rid, "where", tag)
    f = tmp_path / f"{tag}.txt"
    f.write_text(f"hello from {tag}")
    client.log_artifact(rid, str(f))
    client.set_terminated(rid)
    got = client.search_runs([exp_id], filter_string=f"params.where = '{tag}'")
    assert [r.info.run_id for r in got] == [rid]
    out = client.download_artifacts(rid, f"{tag}.txt", str(tmp_path / f"dl-{tag}"))
    assert open(out).read() == f"hello from {tag}"
    client.create_registered_model("shared-model")
    mv = client.create_model_version("shared-model", f"runs:/{rid}/{tag}.txt", run_id=rid)
    assert mv.version == "1"
    client.set_registered_model_alias("shared-model", "prod", "1")
    logged = client.create_logged_model(experiment_id=exp_id, name=f"lm-{tag}")
    return exp_id, rid, logged.model_id


def test_workspaces_are_isolated(mlplane_url, tmp_path):
    team = unique("team")
    r = requests.post(f"{mlplane_url}/api/v1/workspaces", json={"name": team}, timeout=10)
    assert r.status_code in (200, 201), r.text
    team_uri = f"{mlplane_url}/w/{team}"
    root_exp, root_run, root_model = exercise(mlplane_url, tmp_path, "root")
    team_exp, team_run, team_model = exercise(team_uri, tmp_path, "team")

    root, other = MlflowClient(tracking_uri=mlplane_url), MlflowClient(tracking_uri=team_uri)
    assert root.get_experiment_by_name("shared-name").experiment_id == root_exp
    assert other.get_experiment_by_name("shared-name").experiment_id == team_exp
    for client, foreign in [(root, team_run), (other, root_run)]:
        with pytest.raises(RestException) as e:
            client.get_run(foreign)
        assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert [r.info.run_id for r in other.search_runs([team_exp])] == [team_run]
    # The registry and logged models are per workspace too.
    assert root.get_model_version_by_alias("shared-model", "prod").run_id == root_run
    assert other.get_model_version_by_alias("shared-model", "prod").run_id == team_run
    for client, foreign in [(root, team_model), (other, root_model)]:
        with pytest.raises(RestException) as e:
            client.get_logged_model(foreign)
        assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(RestException) as e:
        other.create_model_version("shared-model", f"runs:/{root_run}/root.txt", run_id=root_run)
    assert e.value.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
    names_in_team = [e.name for e in other.search_experiments()]
    assert "shared-name" in names_in_team
    assert len(names_in_team) == 2  # its Default and shared-name only

    missing = MlflowClient(tracking_uri=f"{mlplane_url}/w/{unique('absent')}")
    with pytest.raises(RestException) as e:
        missing.search_experiments()
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
