"""Python SDK for mlplane: submit and follow jobs, manage versioned assets.

    from mlplane import MLClient, command, Environment, Data
    client = MLClient("http://127.0.0.1:5050")
    job = client.jobs.create_or_update(command(
        command="python -c 'print(${{inputs.n}})'", inputs={"n": 3},
        environment=Environment(pip=["numpy"]), experiment_name="demo"))
    for text in client.jobs.stream(job.name):
        print(text, end="")

Data goes in and out as versioned assets:

    client.data.create_or_update(Data(name="iris", path="./data/iris.csv", type="uri_file"))
    job = client.jobs.create_or_update(command(
        command="python train.py ${{inputs.d}} ${{outputs.m}}",
        inputs={"d": Input(type="uri_file", path="azureml:iris@latest")},
        outputs={"m": Output(type="mlflow_model", name="clf")},
        environment=Environment(pip=["scikit-learn"])))
    client.models.download("clf", download_path="./clf")

Secrets are set once and referenced by jobs; no call returns a value:

    client.secrets.set("db_password", os.environ["DB_PASSWORD"])
    [s.name for s in client.secrets.list()]

Tracking (metrics, params, artifacts, models) goes through the unmodified `mlflow` client
pointed at the same server.
"""

from .client import MLClient, MlplaneError
from .entities import Asset, Data, Environment, Input, Job, Model, Output, Secret, command

__all__ = ["MLClient", "MlplaneError", "Job", "Asset", "Data", "Model", "Environment", "Input", "Output", "Secret", "command"]
