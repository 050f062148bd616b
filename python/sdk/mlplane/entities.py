"""Typed objects of the SDK: job and asset specs going in, jobs and assets coming out."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

MAX_ENV_FILE_BYTES = 1 << 20


@dataclass
class Environment:
    """A Python environment: inline `pip` requirements (built with uv on the server), a
    local `pip_requirements` file or `conda_file` (its `pip:` section and python version;
    read here and sent with the request, at most 1 MiB of UTF-8), or a registered
    environment referenced as `name:version` / `name@latest` in a job."""

    pip: list[str] = field(default_factory=list)
    python: str | None = None
    name: str | None = None
    version: str | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    pip_requirements: str | None = None
    conda_file: str | None = None

    def _file(self) -> tuple[str, str] | None:
        given = [(k, p) for k, p in (("pip_requirements", self.pip_requirements), ("conda_file", self.conda_file)) if p]
        if len(given) > 1 or (given and self.pip):
            raise ValueError("give only one of pip, pip_requirements and conda_file")
        return given[0] if given else None

    def files(self) -> dict[str, str]:
        """The request's `files`: the referenced file's text under its base name."""
        f = self._file()
        if f is None:
            return {}
        path = f[1]
        if os.path.getsize(path) > MAX_ENV_FILE_BYTES:
            raise ValueError(f"{path} is larger than {MAX_ENV_FILE_BYTES} bytes")
        with open(path, encoding="utf-8") as fh:
            return {os.path.basename(path): fh.read()}

    def spec(self, inline: bool) -> dict[str, Any]:
        f = self._file()
        s: dict[str, Any] = {f[0]: os.path.basename(f[1])} if f else {"pip": list(self.pip)}
        if self.python and (not f or f[0] == "pip_requirements"):
            s["python"] = self.python
        if not inline:
            s.update(_meta(self.name, self.version, self.description, self.tags))
        return s


def _meta(name, version, description, tags) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if version is not None:
        out["version"] = str(version)
    if description:
        out["description"] = description
    if tags:
        out["tags"] = dict(tags)
    return out


@dataclass
class Data:
    """A data asset: `path` is a registered reference (`azureml:name:version`) or a local file
    or folder, whose files `client.data.create_or_update` uploads."""

    name: str
    path: str
    type: str = "uri_folder"
    version: str | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def spec(self) -> dict[str, Any]:
        return {**_meta(self.name, self.version, self.description, self.tags), "type": self.type, "path": self.path}


@dataclass
class Model:
    """A model asset."""

    name: str
    path: str
    type: str = "custom_model"
    version: str | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def spec(self) -> dict[str, Any]:
        return {**_meta(self.name, self.version, self.description, self.tags), "type": self.type, "path": self.path}


@dataclass
class Input:
    """A data or model input of a job, like `azure.ai.ml.Input`: `path` is a registered
    version (`azureml:name:version`, `azureml:name@latest`) or a local file or folder, which
    the client uploads as an anonymous data version before submitting."""

    type: str = "uri_folder"
    path: str | None = None
    mode: str | None = None

    def spec(self) -> dict[str, Any]:
        s: dict[str, Any] = {"type": self.type, "path": self.path}
        if self.mode:
            s["mode"] = self.mode
        return s


@dataclass
class Output:
    """A job output, like `azure.ai.ml.Output`: registered when the job completes as a data
    version (uri_file, uri_folder, mltable) or a model version (mlflow_model, custom_model),
    named `name` (default `azureml_<job>_output_data_<output>`) at `version` (default: next)."""

    type: str = "uri_folder"
    name: str | None = None
    version: str | None = None

    def spec(self) -> dict[str, Any]:
        s: dict[str, Any] = {"type": self.type}
        if self.name:
            s["name"] = self.name
        if self.version is not None:
            s["version"] = str(self.version)
        return s


def _io(v: Any) -> Any:
    return v.spec() if isinstance(v, (Input, Output)) else v


@dataclass
class CommandJob:
    """A command job spec, as `command(...)` builds it."""

    command: str
    environment: Environment | str
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    experiment_name: str | None = None
    display_name: str | None = None
    name: str | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    environment_variables: dict[str, str] = field(default_factory=dict)
    timeout: int | None = None
    # A local folder, relative to the current directory: packed (honouring .gitignore and
    # .amlignore), uploaded as a code snapshot and used as the command's working folder.
    code: str | None = None

    def spec(self) -> dict[str, Any]:
        s: dict[str, Any] = {"type": "command", "command": self.command}
        if self.code:
            from .snapshot import spec_code

            s["code"] = spec_code(self.code)
        s["environment"] = (
            self.environment if isinstance(self.environment, str) else self.environment.spec(inline=True)
        )
        for key in ("experiment_name", "display_name", "name", "description"):
            if getattr(self, key):
                s[key] = getattr(self, key)
        if self.inputs:
            s["inputs"] = {k: _io(v) for k, v in self.inputs.items()}
        if self.outputs:
            s["outputs"] = {k: _io(v) for k, v in self.outputs.items()}
        if self.tags:
            s["tags"] = dict(self.tags)
        if self.environment_variables:
            s["environment_variables"] = dict(self.environment_variables)
        if self.timeout is not None:
            s["limits"] = {"timeout": self.timeout}
        return s


def command(**kwargs: Any) -> CommandJob:
    """Builds a command job, like `azure.ai.ml.command(...)`."""
    return CommandJob(**kwargs)


@dataclass
class Job:
    """A submitted job as the server reports it."""

    name: str
    status: str
    run_id: str
    experiment_id: str
    display_name: str
    compute: str
    status_message: str | None
    created_at: int
    started_at: int | None
    ended_at: int | None
    spec: dict[str, Any]

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> "Job":
        return cls(**{k: v.get(k) for k in cls.__dataclass_fields__})

    @property
    def is_terminal(self) -> bool:
        return self.status in ("Completed", "Failed", "Canceled")


@dataclass
class Secret:
    """A workspace secret's metadata: the server never returns a secret's value."""

    name: str
    created_at: int
    updated_at: int
    created_by: str
    updated_by: str
    key_id: str

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> "Secret":
        return cls(**{k: v.get(k) for k in cls.__dataclass_fields__})


@dataclass
class Asset:
    """A version of a data, model or environment asset as the server reports it."""

    kind: str
    name: str
    version: str
    description: str
    spec: dict[str, Any]
    storage_uri: str | None
    archived: bool
    created_at: int
    pending_upload: bool = False
    source_job: str | None = None

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> "Asset":
        return cls(**{k: v.get(k) for k in cls.__dataclass_fields__})
