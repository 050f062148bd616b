"""Fixtures for the MLflow client tests: one mlplane server per test session.

The server binary comes from $MLPLANE_BIN (scripts/mlflow-tests.sh sets it). The server
binds port 0 and announces its address on stdout as `mlplane listening on http://...`.
"""

import os
import subprocess
import tempfile

import pytest


@pytest.fixture(scope="session")
def mlplane_url():
    binary = os.environ.get("MLPLANE_BIN", "target/debug/mlplane")
    with tempfile.TemporaryDirectory(prefix="mlplane-mlflow-") as data_dir:
        proc = subprocess.Popen(
            [binary, "server", "--port", "0", "--data-dir", data_dir],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            line = proc.stdout.readline().strip()
            prefix = "mlplane listening on "
            if not line.startswith(prefix):
                raise RuntimeError(f"unexpected first line from mlplane: {line!r}")
            yield line[len(prefix):]
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session", autouse=True)
def tracking_uri(mlplane_url):
    import mlflow

    os.environ["MLFLOW_TRACKING_URI"] = mlplane_url
    # Fail fast instead of retrying for minutes when the server misbehaves.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(mlplane_url)
    yield mlplane_url
