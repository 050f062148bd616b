"""`MLClient`: the REST calls behind the SDK's operations, over httpx."""

from __future__ import annotations

import hashlib
import os
from typing import Any, Iterator
from urllib.parse import quote

import httpx

from .entities import Asset, CommandJob, Data, Environment, Input, Job, Model, Secret
from . import snapshot as _snapshot


class MlplaneError(Exception):
    """The server refused a call: its `code`, `message` and `details` (e.g. the spec errors
    of an `invalid_spec` answer, with line and column)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None):
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details


class _Api:
    def __init__(self, url: str, workspace: str, timeout: float, token: str | None = None):
        self.base = f"{url.rstrip('/')}/api/v1/workspaces/{quote(workspace, safe='')}"
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(timeout=timeout, headers=headers)

    def url(self, *segments: str) -> str:
        return "/".join([self.base, *(quote(str(s), safe="") for s in segments)])

    def call(self, method: str, *segments: str, json: Any = None, params: Any = None, content: Any = None) -> Any:
        r = self.http.request(method, self.url(*segments), json=json, params=params, content=content)
        return self.answer(r)

    def answer(self, r: httpx.Response) -> Any:
        if r.status_code >= 400:
            try:
                body = r.json()
            except ValueError:
                body = {}
            raise MlplaneError(
                r.status_code,
                body.get("code", f"http_{r.status_code}"),
                body.get("message", r.text[:200]),
                body.get("details"),
            )
        return r.json() if r.content else None


class JobOperations:
    def __init__(self, api: _Api):
        self._api = api

    def create_or_update(self, job: CommandJob | dict | str) -> Job:
        """Submits a job: a `command(...)`, a spec dict, or YAML text. A `command(code=...)`
        has its folder packed and uploaded first (skipped when the server has it)."""
        if isinstance(job, CommandJob):
            body: Any = job.spec()
            if isinstance(job.environment, Environment) and job.environment.files():
                body["files"] = job.environment.files()
            if job.code:
                body["code_snapshot"] = self.upload_code(job.code)
            for name, value in job.inputs.items():
                if isinstance(value, Input) and _is_local(value.path):
                    ref = _upload_anonymous(self._api, value)
                    body["inputs"][name]["path"] = ref
        elif isinstance(job, str):
            body = {"yaml": job}
        else:
            body = job
        return Job.from_json(self._api.call("POST", "jobs", json=body))

    def get(self, name: str) -> Job:
        return Job.from_json(self._api.call("GET", "jobs", name))

    def upload_code(self, folder: str) -> dict:
        """Packs `folder` into a snapshot, uploads it unless the server already has it
        (`HEAD` first), and returns the submission's `code_snapshot` with the git state."""
        sha, archive, _ = _snapshot.pack(folder)
        with archive:
            url = self._api.url("snapshots", sha)
            if self._api.http.head(url).status_code != 200:
                r = self._api.http.put(
                    url, content=iter(lambda: archive.read(1 << 20), b""),
                    headers={"content-type": "application/octet-stream"},
                )
                if r.status_code >= 400:
                    self._api.answer(r)  # raises MlplaneError with the server's error body
        out: dict = {"sha256": sha}
        git = _snapshot.git_info(folder)
        if git is not None:
            out["git"] = git
        return out

    def list(self, status: str | None = None) -> list[Job]:
        out: list[Job] = []
        token = None
        while True:
            params = {k: v for k, v in {"status": status, "page_token": token}.items() if v}
            page = self._api.call("GET", "jobs", params=params)
            out.extend(Job.from_json(j) for j in page.get("items", []))
            token = page.get("next_page_token")
            if not token:
                return out

    def cancel(self, name: str) -> Job:
        return Job.from_json(self._api.call("POST", "jobs", name, "cancel"))

    def stream(self, name: str) -> Iterator[str]:
        """Yields the job's log text as it is written, until the job's run ends (server-sent
        events; a dropped connection resumes from the last offset)."""
        job = self.get(name)
        url = self._api.url("runs", job.run_id, "logs", "stream")
        last_id = None
        for _ in range(20):
            headers = {"Last-Event-ID": last_id} if last_id else {}
            with self._api.http.stream("GET", url, headers=headers, timeout=None) as r:
                if r.status_code >= 400:
                    raise MlplaneError(r.status_code, f"http_{r.status_code}", "cannot follow the log")
                event, data, ev_id = "message", [], None
                for line in r.iter_lines():
                    if line == "":
                        if event == "log" and data:
                            yield "\n".join(data)
                            last_id = ev_id or last_id
                        elif event == "end":
                            return
                        elif event == "error":
                            raise MlplaneError(500, "log_stream_failed", "\n".join(data))
                        event, data, ev_id = "message", [], None
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("id:"):
                        ev_id = line[3:].strip()
                    elif line.startswith("data:"):
                        v = line[5:]
                        data.append(v[1:] if v.startswith(" ") else v)
        raise MlplaneError(0, "log_stream_lost", "lost the log stream 20 times")


def _is_local(path: str | None) -> bool:
    """A path that names local files, not a registered version."""
    if not path or path.startswith("azureml:") or "://" in path:
        return False
    return os.path.exists(path)


def _plan(local: str) -> list[tuple[str, str]]:
    """`(local file, remote path)` for `local` (a file: its name) or every file under it."""
    local = os.path.abspath(local)
    if os.path.isfile(local):
        return [(local, os.path.basename(local))]
    out = []
    for root, dirs, files in os.walk(local):
        dirs.sort()
        for f in sorted(files):
            full = os.path.join(root, f)
            out.append((full, os.path.relpath(full, local).replace(os.sep, "/")))
    if not out:
        raise ValueError(f"{local} holds no files to upload")
    return out


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _upload(api: _Api, kind: str, name: str, version: str, plan: list[tuple[str, str]]) -> dict:
    """Streams every file into the pending version, then completes it."""
    for local, remote in plan:
        with open(local, "rb") as f:
            r = api.http.put(
                "/".join([api.url(kind, name, "versions", version, "files"), *(quote(c, safe="") for c in remote.split("/"))]),
                content=f,
                headers={"content-type": "application/octet-stream"},
            )
        api.answer(r)
    return api.call("POST", kind, name, "versions", version, "complete")


def _upload_anonymous(api: _Api, inp: Input) -> str:
    """Uploads a local input as `azureml_anon_<content digest>:1` (once) and names it."""
    plan = _plan(inp.path)
    digest = hashlib.sha256()
    for local, remote in plan:
        digest.update(remote.encode() + b"\0" + bytes.fromhex(_sha256(local)))
    name = f"azureml_anon_{digest.hexdigest()[:24]}"
    kind = "models" if inp.type in ("mlflow_model", "custom_model") else "data"
    try:
        existing = api.call("GET", kind, name, "versions", "1")
    except MlplaneError as e:
        if e.status != 404:
            raise
        existing = api.call(
            "POST", kind, json={"name": name, "version": "1", "type": inp.type, "path": os.path.basename(os.path.abspath(inp.path))}
        )
    if existing.get("pending_upload"):
        _upload(api, kind, name, "1", plan)
    return f"azureml:{name}:1"


class AssetOperations:
    def __init__(self, api: _Api, kind: str, make):
        self._api, self._kind, self._make = api, kind, make

    def create_or_update(self, asset) -> Asset:
        """Creates a version; a `Data`/`Model` whose `path` names local files uploads them
        and completes the version (it stays pending if an upload fails)."""
        local = getattr(asset, "path", None) if isinstance(asset, (Data, Model)) else None
        plan = _plan(local) if _is_local(local) else None
        body = self._make(asset)
        if isinstance(asset, Environment) and asset.files():
            body["files"] = asset.files()
        if plan is not None:
            # The server keeps the local path only as a note; it must be relative.
            body["path"] = os.path.basename(os.path.abspath(local)) or "."
        created = self._api.call("POST", self._kind, json=body)
        if plan is not None and created.get("pending_upload"):
            created = _upload(self._api, self._kind, created["name"], created["version"], plan)
        return Asset.from_json(created)

    def files(self, name: str, version: str = "latest") -> list[dict]:
        """The version's files: `path`, `size`, `sha256`."""
        return self._api.call("GET", self._kind, name, "versions", version, "files")["items"]

    def download(self, name: str, version: str = "latest", download_path: str = ".") -> str:
        """Writes the version's files under `download_path/<name>/`, checking each sha256;
        answers that folder. Paths from the server never leave it."""
        root = os.path.abspath(os.path.join(download_path, name))
        for f in self.files(name, version):
            parts = f["path"].split("/")
            if any(p in ("", ".", "..") or "\\" in p for p in parts):
                raise MlplaneError(0, "unsafe_path", f"refusing to write {f['path']!r}")
            dest = os.path.join(root, *parts)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            h = hashlib.sha256()
            url = "/".join([self._api.url(self._kind, name, "versions", version, "files"), *(quote(p, safe="") for p in parts)])
            with self._api.http.stream("GET", url) as r:
                if r.status_code >= 400:
                    r.read()
                    self._api.answer(r)
                tmp = dest + ".part"
                with open(tmp, "wb") as out:
                    for chunk in r.iter_bytes():
                        h.update(chunk)
                        out.write(chunk)
            if h.hexdigest() != f["sha256"]:
                os.remove(tmp)
                raise MlplaneError(0, "checksum_mismatch", f"{f['path']}: sha256 differs from the server's record")
            os.replace(tmp, dest)
        os.makedirs(root, exist_ok=True)
        return root

    def get(self, name: str, version: str = "latest") -> Asset:
        return Asset.from_json(self._api.call("GET", self._kind, name, "versions", version))

    def list(self, include_archived: bool = False) -> list[Asset]:
        params = {"include_archived": "true"} if include_archived else {}
        page = self._api.call("GET", self._kind, params=params)
        return [Asset.from_json(a) for a in page.get("items", [])]

    def archive(self, name: str, version: str) -> Asset:
        return Asset.from_json(self._api.call("POST", self._kind, name, "versions", version, "archive"))


class SecretOperations:
    """Workspace secrets, handed to jobs by reference (`${{secrets.<name>}}` as the whole
    value of an environment variable). Values go in, never out: `set` and `list` answer
    metadata only."""

    def __init__(self, api: _Api):
        self._api = api

    def set(self, name: str, value: str) -> Secret:
        """Creates or replaces secret `name` with `value` (sent once, stored encrypted)."""
        return Secret.from_json(self._api.call("PUT", "secrets", name, json={"value": value}))

    def get(self, name: str) -> Secret:
        """The metadata of secret `name` (not its value)."""
        return Secret.from_json(self._api.call("GET", "secrets", name))

    def list(self) -> list[Secret]:
        return [Secret.from_json(v) for v in self._api.call("GET", "secrets")["items"]]

    def delete(self, name: str) -> None:
        self._api.call("DELETE", "secrets", name)


class MLClient:
    """A client of one mlplane server and workspace.

    `token` is an API token sent as `Authorization: Bearer`; without one, `MLPLANE_TOKEN`
    from the environment is used if set (a server with `--auth none` needs none).
    """

    def __init__(
        self,
        url: str = "http://127.0.0.1:5050",
        workspace: str = "default",
        timeout: float = 30.0,
        token: str | None = None,
    ):
        token = token or os.environ.get("MLPLANE_TOKEN") or None
        self._api = _Api(url, workspace, timeout, token)
        self.jobs = JobOperations(self._api)
        self.data = AssetOperations(self._api, "data", lambda d: d.spec() if isinstance(d, Data) else d)
        self.models = AssetOperations(self._api, "models", lambda m: m.spec() if isinstance(m, Model) else m)
        self.environments = AssetOperations(
            self._api, "environments", lambda e: e.spec(inline=False) if isinstance(e, Environment) else e
        )
        self.secrets = SecretOperations(self._api)

    def close(self) -> None:
        self._api.http.close()
