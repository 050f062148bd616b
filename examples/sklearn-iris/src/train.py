"""Trains a logistic regression on the iris CSV and logs through the unmodified mlflow client.

The executor runs this file from the job's code snapshot, with MLFLOW_TRACKING_URI and
MLFLOW_RUN_ID set, so the params and metrics below land on the job's own run; the model
saved under --model becomes the job's `model` output, registered as a model version.
"""

import argparse
import csv

import mlflow
import mlflow.sklearn
from sklearn.linear_model import LogisticRegression

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True, help="the iris CSV file")
    p.add_argument("--model", required=True, help="folder to save the mlflow model in")
    p.add_argument("--max-iter", type=int, default=200)
    p.add_argument("--c", type=float, default=1.0)
    args = p.parse_args()

    with open(args.data, newline="") as f:
        rows = list(csv.DictReader(f))
    X = [[float(r[k]) for k in FEATURES] for r in rows]
    y = [r["species"] for r in rows]

    model = LogisticRegression(max_iter=args.max_iter, C=args.c).fit(X, y)
    acc = model.score(X, y)
    mlflow.log_params({"max_iter": args.max_iter, "C": args.c, "rows": len(rows)})
    mlflow.log_metric("accuracy", acc)
    mlflow.sklearn.save_model(model, args.model, serialization_format="cloudpickle")
    print("rows", len(rows), "accuracy", acc)


if __name__ == "__main__":
    main()
