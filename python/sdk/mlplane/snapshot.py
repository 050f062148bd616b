"""Code snapshots: a job's `code` folder packed into a deterministic `.tar.gz`, whose
sha256 is the snapshot id the server stores it under.

Ignore rules follow git's `.gitignore` syntax, read from `.gitignore` and `.amlignore` files
inside the folder (a `.amlignore` is read after the `.gitignore` of the same folder, so its
rules win); `.git` is never packed. Entries are sorted by path with mtime 0, uid/gid 0 and
no owner names; files keep only their executable bit. Symbolic links are stored as links
when their relative target stays inside the folder; any other link is an error, as in the
Rust packer (`crates/mlplane-snapshot`). The bytes may differ from the Rust packer's; the
server accepts any safe tar or tar.gz whose sha256 matches its id.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import stat
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urlsplit, urlunsplit

MAX_ENTRIES = 10_000
MAX_TOTAL_BYTES = 256 << 20
MAX_PATH_LEN = 1024
IGNORE_FILES = (".gitignore", ".amlignore")


class SnapshotError(ValueError):
    """The folder cannot be packed: a limit, a link out of the folder, an unreadable file."""


@dataclass
class _Rule:
    base: str  # folder of the ignore file, relative to the root ("" for the root)
    regex: re.Pattern
    negate: bool
    dir_only: bool


def _translate(pat: str) -> str:
    """A gitignore glob (without `!` and trailing `/`) as a regex over a relative path."""
    anchored = "/" in pat
    pat = pat.lstrip("/") if anchored else pat
    out, i = [], 0
    while i < len(pat):
        if pat.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pat.startswith("/**", i) and i + 3 == len(pat):
            out.append("/.*")
            i += 3
        elif pat.startswith("**", i):
            out.append(".*")
            i += 2
        elif pat[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pat[i] == "?":
            out.append("[^/]")
            i += 1
        elif pat[i] == "[":
            j = pat.find("]", i + 2)
            if j < 0:
                out.append(re.escape("["))
                i += 1
            else:
                body = pat[i + 1 : j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j + 1
        elif pat[i] == "\\" and i + 1 < len(pat):
            out.append(re.escape(pat[i + 1]))
            i += 2
        else:
            out.append(re.escape(pat[i]))
            i += 1
    body = "".join(out)
    return ("^" if anchored else "^(?:.*/)?") + body + "$"


def _read_rules(folder: str, base: str) -> list[_Rule]:
    rules = []
    for name in IGNORE_FILES:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f.read().splitlines():
                if not line.strip() or line.startswith("#"):
                    continue
                line = line.rstrip(" ") if not line.endswith("\\ ") else line
                negate = line.startswith("!")
                if negate:
                    line = line[1:]
                elif line.startswith("\\!") or line.startswith("\\#"):
                    line = line[1:]
                dir_only = line.endswith("/")
                line = line.rstrip("/")
                if line:
                    rules.append(_Rule(base, re.compile(_translate(line)), negate, dir_only))
    return rules


def _ignored(rel: str, is_dir: bool, rules: list[_Rule]) -> bool:
    verdict = False
    for r in rules:
        if r.dir_only and not is_dir:
            continue
        sub = rel[len(r.base) + 1 :] if r.base else rel
        if r.regex.match(sub):
            verdict = not r.negate
    return verdict


def _inside(link: str, target: str) -> bool:
    if not target or target.startswith("/"):
        return False
    depth = link.count("/")
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part not in ("", "."):
            depth += 1
    return True


def _walk(root: str) -> list[tuple[str, str]]:
    """(relative path, kind) of every entry to pack, sorted; kind is dir, file or link."""
    items: list[tuple[str, str]] = []
    total = 0

    def visit(folder: str, rel_dir: str, rules: list[_Rule]) -> None:
        nonlocal total
        rules = rules + _read_rules(folder, rel_dir)
        for name in sorted(os.listdir(folder)):
            if name == ".git":
                continue
            full = os.path.join(folder, name)
            rel = f"{rel_dir}/{name}" if rel_dir else name
            st = os.lstat(full)
            is_dir = stat.S_ISDIR(st.st_mode)
            if _ignored(rel, is_dir, rules):
                continue
            if len(rel.encode()) > MAX_PATH_LEN:
                raise SnapshotError(f"{rel}: snapshot limit max_path_len = {MAX_PATH_LEN} exceeded")
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(full)
                if not _inside(rel, target):
                    raise SnapshotError(f"{rel}: symbolic link to {target!r} points outside the code folder")
                items.append((rel, "link"))
            elif is_dir:
                items.append((rel, "dir"))
                visit(full, rel, rules)
            elif stat.S_ISREG(st.st_mode):
                total += st.st_size
                if total > MAX_TOTAL_BYTES:
                    raise SnapshotError(f"{rel}: snapshot limit max_total_bytes = {MAX_TOTAL_BYTES} exceeded")
                items.append((rel, "file"))
            else:
                raise SnapshotError(f"{rel}: a fifo, socket or device cannot be part of a code snapshot")
            if len(items) > MAX_ENTRIES:
                raise SnapshotError(f"{rel}: snapshot limit max_entries = {MAX_ENTRIES} exceeded")

    if not os.path.isdir(root):
        raise SnapshotError(f"{root}: not a directory")
    visit(root, "", [])
    items.sort(key=lambda i: i[0].encode())
    return items


def pack(folder: str) -> tuple[str, BinaryIO, list[str]]:
    """Packs `folder`; returns (sha256, the archive rewound, the packed paths)."""
    items = _walk(folder)
    out = tempfile.TemporaryFile()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for rel, kind in items:
                full = os.path.join(folder, rel)
                info = tarfile.TarInfo(rel)
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                if kind == "dir":
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                elif kind == "link":
                    info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, os.readlink(full)
                    tar.addfile(info)
                else:
                    st = os.stat(full)
                    info.size = st.st_size
                    info.mode = 0o755 if st.st_mode & 0o100 else 0o644
                    with open(full, "rb") as f:
                        tar.addfile(info, f)
    out.seek(0)
    h = hashlib.sha256()
    for chunk in iter(lambda: out.read(1 << 20), b""):
        h.update(chunk)
    out.seek(0)
    return h.hexdigest(), out, [rel for rel, _ in items]


def _git(folder: str, *args: str) -> str | None:
    try:
        r = subprocess.run(["git", "-C", folder, *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def strip_credentials(url: str) -> str:
    """`https://user:token@host/x` -> `https://host/x`; scp-like remotes are kept."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def git_info(folder: str) -> dict | None:
    """Commit, branch, remote URL (no credentials) and dirty flag, or None outside git."""
    if _git(folder, "rev-parse", "--show-toplevel") is None:
        return None
    info: dict = {"dirty": bool(_git(folder, "status", "--porcelain"))}
    commit = _git(folder, "rev-parse", "--verify", "--quiet", "HEAD")
    branch = _git(folder, "symbolic-ref", "--quiet", "--short", "HEAD")
    url = _git(folder, "config", "--get", "remote.origin.url")
    if commit:
        info["commit"] = commit
    if branch:
        info["branch"] = branch
    if url:
        info["repo_url"] = strip_credentials(url)
    return info


def spec_code(code: str) -> str:
    """The `code` value sent in the spec: the user's relative path, or `./<folder name>`
    when it is absolute or climbs with `..` (the spec only names the folder)."""
    norm = code.replace(os.sep, "/")
    if not norm.startswith("/") and ".." not in norm.split("/"):
        return norm
    return "./" + os.path.basename(os.path.abspath(code))


__all__ = ["SnapshotError", "pack", "git_info", "strip_credentials", "spec_code"]
