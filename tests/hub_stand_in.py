"""A local stand-in for the Hugging Face hub, for tests: an HTTP server on 127.0.0.1 that serves model and dataset
repositories held in memory, through the endpoints huggingface_hub and datasets call (found by reading their
source; HF_ENDPOINT points them here):

    GET  /api/{models,datasets}/<org>/<name>[/revision/<rev>]          repository info (commit, files)
    GET  /api/{models,datasets}/<org>/<name>/tree/<rev>[/<path>]       file listing (recursive or not)
    POST /api/{models,datasets}/<org>/<name>/paths-info/<rev>          listing of given paths
    HEAD, GET [/datasets]/<org>/<name>/resolve/<rev>/<path>            a file, with the X-Repo-Commit and ETag
                                                                       headers, and byte ranges (streaming)

GET /api/agent-harnesses, huggingface_hub's best-effort telemetry, is answered 404. A revision is `main` or the
repository's one commit. Errors carry the X-Error-Code the hub sends, so that the libraries raise what they raise
against the hub (a missing file is EntryNotFound, which `datasets` expects for an absent README.md). Every request is
recorded; one the stand-in does not implement is answered 501 and recorded in `unhandled`, so that a test sees when
the libraries needed more than this.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".parquet")  # stored as LFS files on the hub: their ETag is the sha256
DATE = "2024-01-01T00:00:00.000Z"


@dataclass
class Repo:
    """One repository at one commit."""

    kind: str  # model | dataset
    repo_id: str
    files: dict[str, bytes]
    commit: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha1(usedforsecurity=False)
        for path in sorted(self.files):
            digest.update(path.encode() + b"\0" + hashlib.sha256(self.files[path]).digest())
        self.commit = digest.hexdigest()

    @classmethod
    def from_folder(cls, kind: str, repo_id: str, folder: Path) -> Repo:
        files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        return cls(kind, repo_id, files)

    def entry(self, path: str) -> dict:
        """The tree entry of a file or folder, as the hub lists it."""
        if path in self.files:
            data = self.files[path]
            entry = {"type": "file", "oid": self.blob_id(path), "size": len(data), "path": path}
            if path.endswith(LFS_SUFFIXES):
                entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            return entry
        return {"type": "directory", "oid": hashlib.sha1(path.encode(), usedforsecurity=False).hexdigest(),
                "size": 0, "path": path}

    def blob_id(self, path: str) -> str:
        data = self.files[path]
        return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()

    def etag(self, path: str) -> str:
        if path.endswith(LFS_SUFFIXES):
            return hashlib.sha256(self.files[path]).hexdigest()
        return self.blob_id(path)

    def folders(self) -> set[str]:
        return {"/".join(p.split("/")[:i]) for p in self.files for i in range(1, p.count("/") + 1)}

    def listing(self, under: str, recursive: bool) -> list[dict] | None:
        """Tree entries below `under` ('' is the root), or None when there is no such folder."""
        if under and under not in self.folders():
            return None
        prefix = f"{under}/" if under else ""
        paths = sorted(p for p in self.files | dict.fromkeys(self.folders()) if p.startswith(prefix))
        if not recursive:
            paths = [p for p in paths if "/" not in p[len(prefix):]]
        return [self.entry(p) | {"lastCommit": {"id": self.commit, "title": "stand-in", "date": DATE}} for p in paths]

    def info(self) -> dict:
        return {"_id": self.commit[:24], "id": self.repo_id, "sha": self.commit, "private": False, "gated": False,
                "disabled": False, "downloads": 0, "likes": 0, "tags": [], "lastModified": DATE, "createdAt": DATE,
                "cardData": {}, "siblings": [{"rfilename": p} for p in sorted(self.files)]}


class HubStandIn:
    """The stand-in server, run in a thread while used as a context manager (`url` is its HF_ENDPOINT)."""

    def __init__(self, repos: list[Repo]) -> None:
        self.repos = {(repo.kind, repo.repo_id): repo for repo in repos}
        self.requests: list[str] = []
        self.authorizations: set[str | None] = set()  # the Authorization headers sent (None: a request without one)
        self.unhandled: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="hub-stand-in", daemon=True)

    def __enter__(self) -> HubStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()  # returns once serve_forever has stopped
        self.server.server_close()
        self.thread.join(timeout=10)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args) -> None:  # noqa: A002 (the base class's name)
                pass  # recorded in hub.requests instead of printed

            def do_HEAD(self) -> None:
                hub.serve(self, "HEAD")

            def do_GET(self) -> None:
                hub.serve(self, "GET")

            def do_POST(self) -> None:
                hub.serve(self, "POST")

        return Handler

    # --- routing --------------------------------------------------------------------------------------------------
    def serve(self, request: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(request.path)
        query = parse_qs(url.query)
        parts = url.path.strip("/").split("/")
        self.requests.append(f"{method} {url.path}")
        self.authorizations.add(request.headers.get("Authorization"))
        if url.path == "/api/agent-harnesses":  # huggingface_hub's best-effort telemetry: none here
            return self.error(request, 404, "", "no registry")
        if parts[:1] == ["api"] and len(parts) >= 4 and parts[1] in ("models", "datasets"):
            repo = self.repos.get((parts[1][:-1], f"{parts[2]}/{parts[3]}"))
            if repo is None:
                return self.error(request, 401, "RepoNotFound", "Repository not found")
            rest = parts[4:]
            if method == "GET" and not rest:
                return self.json(request, repo.info())
            if method == "GET" and rest[0] == "revision" and len(rest) == 2:
                return self.at_revision(request, repo, rest[1], lambda: repo.info())
            if method == "GET" and rest[0] == "tree" and len(rest) >= 2:
                under = unquote("/".join(rest[2:]))
                recursive = query.get("recursive", ["false"])[0].lower() in ("true", "1")
                return self.at_revision(request, repo, rest[1], lambda: repo.listing(under, recursive))
            if method == "POST" and rest[0] == "paths-info" and len(rest) == 2:
                length = int(request.headers.get("Content-Length") or 0)
                form = parse_qs(request.rfile.read(length).decode())
                paths = [p for p in form.get("paths", []) if p in repo.files or p in repo.folders()]
                return self.at_revision(request, repo, rest[1], lambda: [repo.entry(p) for p in paths])
        elif method in ("GET", "HEAD") and "resolve" in parts:
            at = parts.index("resolve")
            kind = "dataset" if parts[0] == "datasets" else "model"
            names = parts[1:at] if kind == "dataset" else parts[:at]
            repo = self.repos.get((kind, "/".join(names)))
            if repo is None:
                return self.error(request, 401, "RepoNotFound", "Repository not found")
            if len(parts) > at + 2:
                return self.file(request, method, repo, unquote(parts[at + 1]), unquote("/".join(parts[at + 2:])))
        self.unhandled.append(f"{method} {request.path}")
        return self.error(request, 501, "", "not implemented by the stand-in")

    # --- answers --------------------------------------------------------------------------------------------------
    def at_revision(self, request, repo: Repo, revision: str, body) -> None:
        if unquote(revision) not in ("main", repo.commit):
            return self.error(request, 404, "RevisionNotFound", "Invalid rev id")
        payload = body()
        if payload is None:
            return self.error(request, 404, "EntryNotFound", "Entry not found")
        return self.json(request, payload)

    def file(self, request, method: str, repo: Repo, revision: str, path: str) -> None:
        if revision not in ("main", repo.commit):
            return self.error(request, 404, "RevisionNotFound", "Invalid rev id")
        if path not in repo.files:
            return self.error(request, 404, "EntryNotFound", "Entry not found")
        data = repo.files[path]
        start, end, status = 0, len(data) - 1, 200
        ranged = request.headers.get("Range", "")
        if ranged.startswith("bytes="):
            first, _, last = ranged[len("bytes="):].partition("-")
            start = int(first) if first else max(0, len(data) - int(last))
            end = min(int(last), len(data) - 1) if first and last else len(data) - 1
            status = 206
        body = data[start:end + 1]
        request.send_response(status)
        request.send_header("Content-Type", "application/octet-stream")
        request.send_header("Content-Length", str(len(body)))
        request.send_header("Accept-Ranges", "bytes")
        request.send_header("ETag", f'"{repo.etag(path)}"')
        request.send_header("X-Repo-Commit", repo.commit)
        if status == 206:
            request.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        request.end_headers()
        if method == "GET":
            request.wfile.write(body)

    @staticmethod
    def json(request, payload) -> None:
        body = json.dumps(payload).encode()
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)

    @staticmethod
    def error(request, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        request.send_response(status)
        if code:
            request.send_header("X-Error-Code", code)
        request.send_header("X-Error-Message", message)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)
