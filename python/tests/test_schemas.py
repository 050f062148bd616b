"""The JSON Schemas of spec kinds: valid draft 2020-12 documents, served by the server
exactly as kept in the repository, and every example spec validates against its schema
(while specs the server refuses for shape reasons do not)."""

import json
import pathlib

import httpx
import jsonschema
import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
KINDS = ["command_job", "data", "model", "environment", "compute", "command_component"]


def schema(kind):
    return json.loads((REPO / "schemas" / f"{kind}.schema.json").read_text())


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_valid_and_served_as_kept(kind, mlplane_url):
    s = schema(kind)
    jsonschema.Draft202012Validator.check_schema(s)
    served = httpx.get(f"{mlplane_url}/api/v1/schemas/{kind}")
    assert served.status_code == 200
    assert served.json() == s


def test_example_jobs_validate():
    jobs = sorted(REPO.glob("examples/*/job.yml"))
    assert jobs, "no example jobs found"
    v = jsonschema.Draft202012Validator(schema("command_job"))
    for path in jobs:
        doc = yaml.safe_load(path.read_text())
        errors = [e.message for e in v.iter_errors(doc)]
        assert errors == [], f"{path}: {errors}"


def test_readme_compute_spec_validates_and_bad_ones_do_not():
    v = jsonschema.Draft202012Validator(schema("compute"))
    assert list(v.iter_errors({"name": "one-at-a-time", "type": "local", "slots": 1})) == []
    assert list(v.iter_errors({"name": "big", "slots": 4, "cpu": 8, "memory": "8Gi"})) == []
    for bad in [
        {"name": "local"},
        {"name": "x", "slots": 0},
        {"name": "x", "type": "ray"},
        {"name": "x", "memory": "lots"},
        {"name": "x", "slotz": 2},
    ]:
        assert list(v.iter_errors(bad)), bad


def test_job_shapes_the_decoder_refuses_are_refused_by_the_schema():
    v = jsonschema.Draft202012Validator(schema("command_job"))
    ok = {"command": "echo ${{inputs.n}}", "environment": {"pip": ["numpy"]}, "inputs": {"n": 3}}
    assert list(v.iter_errors(ok)) == []
    for bad in [
        {"environment": "env@latest"},
        {"comand": "x", "environment": "env@latest"},
        {"command": "x", "environment": {"pip": [], "pipp": []}},
        {"command": "x", "environment": "e@latest", "limits": {"timeout": "soon"}},
        {"command": "x", "environment": "e@latest", "outputs": {"o": {"type": "literal"}}},
    ]:
        assert list(v.iter_errors(bad)), bad
