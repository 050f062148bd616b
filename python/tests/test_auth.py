"""The unmodified mlflow client and the SDK against a server started with `--auth on`:
MLFLOW_TRACKING_TOKEN (Bearer), MLFLOW_TRACKING_USERNAME/PASSWORD (Basic), a revoked token
(401 UNAUTHENTICATED), a Reader's token trying to log (403 PERMISSION_DENIED), and
`MLClient(token=...)`.
"""

import os
import subprocess
import sys
import tempfile

import httpx
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "sdk"))

ADMIN_PASSWORD = "admin-password-for-tests"


@pytest.fixture(scope="module")
def auth_server():
    binary = os.environ.get("MLPLANE_BIN", "target/debug/mlplane")
    with tempfile.TemporaryDirectory(prefix="mlplane-auth-") as data_dir:
        env = dict(os.environ, MLPLANE_ADMIN_PASSWORD=ADMIN_PASSWORD, MLPLANE_LOG="warn")
        proc = subprocess.Popen(
            [binary, "server", "--auth", "on", "--port", "0", "--job-slots", "0", "--data-dir", data_dir],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        try:
            line = proc.stdout.readline().strip()
            prefix = "mlplane listening on "
            assert line.startswith(prefix), line
            url = line[len(prefix):]
            admin = httpx.Client(base_url=url, auth=("admin", ADMIN_PASSWORD), timeout=30)
            users = {"contrib": "Contributor", "reader": "Reader"}
            tokens = {}
            for name, role in users.items():
                r = admin.post("/api/v1/users", json={"name": name, "password": f"{name}-password"})
                assert r.status_code == 201, r.text
                r = admin.post(
                    "/api/v1/workspaces/default/role-bindings", json={"principal": name, "role": role}
                )
                assert r.status_code == 204, r.text
                r = httpx.post(
                    f"{url}/api/v1/tokens", json={"name": "tests"}, auth=(name, f"{name}-password"), timeout=30
                )
                assert r.status_code == 201, r.text
                tokens[name] = r.json()
            yield url, tokens
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def tracking(auth_server, monkeypatch):
    """Points the mlflow client at the auth server for one test, with no credentials set."""
    import mlflow

    url, tokens = auth_server
    for var in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(url)
    yield url, tokens
    mlflow.set_tracking_uri(previous)


def _log_a_run(name):
    import mlflow

    mlflow.set_experiment(name)
    with mlflow.start_run() as run:
        mlflow.log_param("lr", "0.1")
        mlflow.log_metric("loss", 0.5, step=1)
    got = mlflow.MlflowClient().get_run(run.info.run_id)
    assert got.data.params["lr"] == "0.1"
    assert got.data.metrics["loss"] == 0.5


def test_a_token_in_mlflow_tracking_token_logs_a_run(tracking, monkeypatch):
    _, tokens = tracking
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", tokens["contrib"]["token"])
    _log_a_run("auth-token")


def test_user_and_password_log_a_run(tracking, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "contrib")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "contrib-password")
    _log_a_run("auth-basic")


def test_no_credentials_and_a_revoked_token_are_401(tracking, monkeypatch):
    from mlflow.exceptions import RestException

    url, _ = tracking
    with pytest.raises(RestException) as e:
        import mlflow

        mlflow.MlflowClient().search_experiments()
    assert e.value.get_http_status_code() == 401
    assert e.value.error_code == "UNAUTHENTICATED"

    made = httpx.post(
        f"{url}/api/v1/tokens", json={"name": "short-lived"}, auth=("contrib", "contrib-password"), timeout=30
    ).json()
    r = httpx.delete(f"{url}/api/v1/tokens/{made['id']}", headers={"authorization": f"Bearer {made['token']}"})
    assert r.status_code == 204
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", made["token"])
    with pytest.raises(RestException) as e:
        import mlflow

        mlflow.MlflowClient().create_experiment("revoked-token-experiment")
    assert e.value.get_http_status_code() == 401
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", _admin_token(url))
    import mlflow

    assert mlflow.MlflowClient().get_experiment_by_name("revoked-token-experiment") is None


def test_a_reader_cannot_log(tracking, monkeypatch):
    import mlflow
    from mlflow.exceptions import RestException

    url, tokens = tracking
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", tokens["reader"]["token"])
    with pytest.raises(RestException) as e:
        mlflow.MlflowClient().create_experiment("reader-experiment")
    assert e.value.get_http_status_code() == 403
    assert e.value.error_code == "PERMISSION_DENIED"
    # Reading is fine.
    assert mlflow.MlflowClient().get_experiment("0").name == "Default"
    assert mlflow.MlflowClient().get_experiment_by_name("reader-experiment") is None


def _admin_token(url):
    r = httpx.post(f"{url}/api/v1/tokens", json={"name": "admin"}, auth=("admin", ADMIN_PASSWORD), timeout=30)
    assert r.status_code == 201, r.text
    return r.json()["token"]


def test_the_sdk_sends_its_token(auth_server, monkeypatch):
    from mlplane import MLClient
    from mlplane.client import MlplaneError

    url, tokens = auth_server
    monkeypatch.delenv("MLPLANE_TOKEN", raising=False)
    anonymous = MLClient(url)
    with pytest.raises(MlplaneError) as e:
        anonymous.data.list()
    assert (e.value.status, e.value.code) == (401, "unauthenticated")
    reader = MLClient(url, token=tokens["reader"]["token"])
    assert reader.data.list() == []
    monkeypatch.setenv("MLPLANE_TOKEN", tokens["reader"]["token"])
    assert MLClient(url).data.list() == []
