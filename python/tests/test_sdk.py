"""The Python SDK (`python/sdk`, package `mlplane`) against a live server: jobs from
`command(...)` and from YAML, streaming logs, cancel, spec errors with positions, assets,
secrets (set, list, delete; never a value back)."""

import os
import sys
import time
import uuid

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "sdk"))

from mlplane import Data, Environment, Input, MLClient, MlplaneError, Output, command  # noqa: E402


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture()
def client(mlplane_url):
    c = MLClient(mlplane_url)
    yield c
    c.close()


def wait(client, name, statuses, timeout=300):
    start = time.time()
    while True:
        job = client.jobs.get(name)
        if job.status in statuses:
            return job
        assert time.time() - start < timeout, f"{name} still {job.status}"
        time.sleep(0.2)


needs_uv = pytest.mark.skipif(
    not os.environ.get("MLPLANE_UV") and not os.environ.get("MLPLANE_REQUIRE_UV"),
    reason="jobs need uv (MLPLANE_UV); make test installs it",
)


@needs_uv
def test_command_job_runs_and_streams(client):
    job = client.jobs.create_or_update(
        command(
            command="echo hello ${{inputs.who}}",
            inputs={"who": "sdk"},
            environment=Environment(pip=[]),
            experiment_name=unique("sdk"),
            display_name="sdk-hello",
        )
    )
    assert job.status == "Queued"
    text = "".join(client.jobs.stream(job.name))
    assert "hello sdk" in text
    done = client.jobs.get(job.name)
    assert done.status == "Completed" and done.is_terminal
    assert job.name in [j.name for j in client.jobs.list(status="Completed")]


@needs_uv
def test_yaml_job_cancel(client):
    job = client.jobs.create_or_update("command: echo started; sleep 120\nenvironment: {pip: []}\n")
    wait(client, job.name, {"Running"})
    client.jobs.cancel(job.name)
    assert wait(client, job.name, {"Canceled", "Failed", "Completed"}).status == "Canceled"


def test_bad_spec_reports_positions(client):
    with pytest.raises(MlplaneError) as e:
        client.jobs.create_or_update("comand: echo\nenvironment: {pip: []}\n")
    assert e.value.status == 400 and e.value.code == "invalid_spec"
    first = e.value.details["errors"][0]
    assert (first["line"], first["column"], first["field"]) == (1, 1, "comand")
    assert "did you mean 'command'" in first["message"]


def test_assets_are_versioned(client):
    name = unique("iris")
    a1 = client.data.create_or_update(Data(name=name, path="data/iris.csv", type="uri_file"))
    a2 = client.data.create_or_update(Data(name=name, path="data/iris-v2.csv", type="uri_file"))
    assert (a1.version, a2.version) == ("1", "2")
    assert client.data.get(name).version == "2"
    assert client.data.get(name, "1").spec["local_path"] == "data/iris.csv"
    client.data.archive(name, "2")
    assert client.data.get(name).version == "1"
    env = client.environments.create_or_update(Environment(name=unique("env"), pip=["numpy"]))
    assert env.version == "1"
    assert env.name in [e.name for e in client.environments.list()]
    with pytest.raises(MlplaneError) as e:
        client.data.create_or_update(Data(name=name, path="d", version="1"))
    assert e.value.status == 409


def _tags_of(client, run_id):
    run = client._api.call("GET", "runs", run_id)
    return {t["key"]: t["value"] for t in run["data"]["tags"]}


@needs_uv
def test_command_with_code_runs_from_its_snapshot(client, tmp_path, monkeypatch):
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "main.py").write_text(
        "import os\nfrom pkg.util import word\nprint('sdk-code', word())\n"
        "print('listing', sorted(f for _, _, fs in os.walk('.') for f in fs))\n"
    )
    (src / "pkg" / "__init__.py").write_text("")
    (src / "pkg" / "util.py").write_text("def word():\n    return 'from-the-snapshot'\n")
    (src / ".gitignore").write_text("*.log\n")
    (src / ".amlignore").write_text("private/\n")
    (src / "debug.log").write_text("ignored")
    (src / "private").mkdir()
    (src / "private" / "key.txt").write_text("ignored")
    monkeypatch.chdir(tmp_path)

    def submit():
        return client.jobs.create_or_update(
            command(command="python main.py", code="./src", environment=Environment(pip=[]),
                    experiment_name=unique("sdk-code"))
        )

    job = submit()
    text = "".join(client.jobs.stream(job.name))
    assert "sdk-code from-the-snapshot" in text, text
    assert "debug.log" not in text and "key.txt" not in text, text
    assert client.jobs.get(job.name).status == "Completed"
    snap = _tags_of(client, job.run_id)["mlplane.code.snapshot"]
    # The same tree gives the same snapshot; the second submission reuses it.
    again = submit()
    assert _tags_of(client, again.run_id)["mlplane.code.snapshot"] == snap
    listing = client._api.call("GET", "snapshots", snap)
    paths = [f["path"] for f in listing["files"]]
    assert "pkg/util.py" in paths and "debug.log" not in paths and "private" not in paths


def test_a_tampered_snapshot_upload_is_refused(client):
    r = client._api.http.put(client._api.url("snapshots", "1" * 64), content=b"not it")
    assert r.status_code == 400 and r.json()["code"] == "snapshot_mismatch"
    with pytest.raises(MlplaneError) as e:
        client.jobs.create_or_update(
            {"command": "ls", "code": "./src", "environment": {"pip": []},
             "code_snapshot": {"sha256": "2" * 64}}
        )
    assert e.value.code == "snapshot_not_found"


def test_gitignore_rules_match_like_git(tmp_path):
    from mlplane import snapshot

    for rel in ["a.log", "keep.log", "build/x.o", "src/build/y.o", "docs/build", "src/gen/z.py",
                "src/main.py", "deep/a/b/c.tmp", "only/dir.txt"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(rel)
    (tmp_path / ".gitignore").write_text("*.log\n!keep.log\nbuild/\n/src/gen\n**/*.tmp\n")
    (tmp_path / "only" / ".amlignore").write_text("dir.txt\n")
    _, archive, paths = snapshot.pack(str(tmp_path))
    archive.close()
    files = {p for p in paths if (tmp_path / p).is_file() and not (tmp_path / p).is_symlink()}
    assert files == {".gitignore", "keep.log", "docs/build", "src/main.py", "only/.amlignore"}
def test_data_with_local_files_is_uploaded_and_downloads_back(client, tmp_path):
    name = unique("iris")
    src = tmp_path / "csv"
    (src / "sub").mkdir(parents=True)
    (src / "iris.csv").write_text("a,b\n1,2\n")
    (src / "sub" / "blob.bin").write_bytes(bytes(range(256)) * 100)
    a = client.data.create_or_update(Data(name=name, path=str(src)))
    assert not a.pending_upload and a.storage_uri == f"mlplane-assets:/default/data/{name}/1"
    files = client.data.files(name)
    assert [f["path"] for f in files] == ["iris.csv", "sub/blob.bin"]
    out = client.data.download(name, download_path=str(tmp_path / "down"))
    assert open(os.path.join(out, "iris.csv")).read() == "a,b\n1,2\n"
    assert open(os.path.join(out, "sub", "blob.bin"), "rb").read() == bytes(range(256)) * 100
    # A pending version (nothing uploaded) cannot feed a job; the error names the input.
    pending = client.data.create_or_update(Data(name=unique("pending"), path="not/here"))
    assert pending.pending_upload
    with pytest.raises(MlplaneError) as e:
        client.jobs.create_or_update(
            command(
                command="ls ${{inputs.d}}",
                inputs={"d": Input(path=f"azureml:{pending.name}:1")},
                environment=Environment(pip=[]),
            )
        )
    assert e.value.code == "invalid_spec"
    assert e.value.details["errors"][0]["field"] == "inputs.d.path"


@needs_uv
def test_job_inputs_and_outputs_become_versions_with_lineage(client, tmp_path):
    name = unique("rows")
    f = tmp_path / "rows.csv"
    f.write_text("x\n1\n2\n")
    client.data.create_or_update(Data(name=name, path=str(f), type="uri_file"))
    local = tmp_path / "extra"
    local.mkdir()
    (local / "n.txt").write_text("5\n")
    out_name = unique("count")
    job = client.jobs.create_or_update(
        command(
            command="wc -l < ${{inputs.rows}} > ${{outputs.count}}/lines.txt && cat ${{inputs.extra}}/n.txt",
            inputs={
                "rows": Input(type="uri_file", path=f"azureml:{name}@latest"),
                "extra": Input(type="uri_folder", path=str(local), mode="download"),
            },
            outputs={"count": Output(type="uri_folder", name=out_name)},
            environment=Environment(pip=[]),
            experiment_name=unique("sdk-data"),
        )
    )
    text = "".join(client.jobs.stream(job.name))
    done = wait(client, job.name, {"Completed", "Failed", "Canceled"})
    assert done.status == "Completed", (done.status_message, text)
    assert "5\n" in text
    produced = client.data.get(out_name)
    assert produced.version == "1" and produced.source_job == job.name
    got = client.data.download(out_name, download_path=str(tmp_path / "out"))
    assert open(os.path.join(got, "lines.txt")).read().strip() == "3"


@needs_uv
def test_environment_from_requirements_and_conda_files(client, tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("# tiny\nsix==1.16.0\n")
    conda = tmp_path / "conda.yml"
    conda.write_text("dependencies:\n  - pip\n  - pip:\n    - six==1.17.0\n")
    for env, want in ((Environment(pip_requirements=str(req)), "1.16.0"), (Environment(conda_file=str(conda)), "1.17.0")):
        job = client.jobs.create_or_update(
            command(command="python -c \"import six; print('six', six.__version__)\"", environment=env)
        )
        text = "".join(client.jobs.stream(job.name))
        assert f"six {want}" in text, text
        assert client.jobs.get(job.name).status == "Completed"
    reg = client.environments.create_or_update(Environment(name=unique("envf"), pip_requirements=str(req)))
    assert reg.spec["deps"]["inline"]["pip"] == ["six==1.16.0"]
    bad = tmp_path / "bad.yml"
    bad.write_text("dependencies:\n  - numpy=1.26\n")
    with pytest.raises(MlplaneError) as e:
        client.environments.create_or_update(Environment(name=unique("envf"), conda_file=str(bad)))
    assert e.value.code == "invalid_spec" and "bad.yml:2:" in e.value.details["errors"][0]["message"]


def test_secrets_are_set_listed_and_deleted_and_never_returned(client, mlplane_url):
    import httpx

    name = f"sdk_{uuid.uuid4().hex[:8]}"
    planted = f"planted-{uuid.uuid4().hex}"
    made = client.secrets.set(name, planted)
    assert made.name == name and made.key_id
    assert planted not in repr(made)
    listed = {s.name: s for s in client.secrets.list()}
    assert name in listed
    replaced = client.secrets.set(name, planted + "-2")
    assert replaced.updated_at >= made.updated_at
    assert client.secrets.get(name).created_at == made.created_at
    # Nothing the API answers carries the value, whatever the route.
    base = f"{mlplane_url}/api/v1/workspaces/default/secrets"
    for url in (base, f"{base}/{name}"):
        assert planted not in httpx.get(url, timeout=30).text
    with pytest.raises(MlplaneError) as bad:
        client.secrets.set("not a name", "x")
    assert bad.value.status == 400
    client.secrets.delete(name)
    assert name not in [s.name for s in client.secrets.list()]
    with pytest.raises(MlplaneError) as gone:
        client.secrets.get(name)
    assert gone.value.status == 404
