"""A stand-in for the Hugging Face Hub on loopback, for tests of ``edgejudge pull``.

It answers the few endpoints huggingface_hub's own download code calls (file metadata and
content, with ranges for resumed downloads; repository info; the file tree), so the real library
code path fills a real Hugging Face cache, and nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RESOLVE = re.compile(r"^/(?:models/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")
TREE = re.compile(r"^/api/models/([^/]+/[^/]+)/tree/([^/?]+)")
INFO = re.compile(r"^/api/models/([^/]+/[^/]+)(?:/revision/([^/?]+))?")


class Hub:
    def __init__(self):
        self.repos: dict[str, dict] = {}  # repo id -> {"sha": commit, "files": {name: bytes}}
        self.requests: list[str] = []
        self.server: ThreadingHTTPServer | None = None

    def add(self, repo_id: str, files: dict[str, bytes]) -> None:
        commit = hashlib.sha1(repo_id.encode() + "".join(sorted(files)).encode()).hexdigest()
        self.repos[repo_id] = {"sha": commit, "files": files}

    def start(self) -> str:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _handler(hub: Hub):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, code: int, data: bytes, headers: dict[str, str]) -> None:
            self.send_response(code)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_HEAD(self):
            hub.requests.append("HEAD " + self.path)
            self._serve_file(body=False)

        def do_GET(self):
            hub.requests.append("GET " + self.path)
            if match := TREE.match(self.path):
                repo = hub.repos.get(match.group(1))
                if repo is None:
                    return self._send(404, b"{}", {"X-Error-Code": "RepoNotFound"})
                entries = [{"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                           for name, data in sorted(repo["files"].items())]
                return self._send(200, json.dumps(entries).encode(), {"Content-Type": "application/json"})
            if match := INFO.match(self.path):
                repo = hub.repos.get(match.group(1))
                if repo is None:
                    return self._send(404, b"{}", {"X-Error-Code": "RepoNotFound"})
                info = {"id": match.group(1), "modelId": match.group(1), "sha": repo["sha"], "private": False,
                        "siblings": [{"rfilename": name} for name in sorted(repo["files"])]}
                return self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"})
            self._serve_file(body=True)

        def _serve_file(self, body: bool) -> None:
            match = RESOLVE.match(self.path.split("?")[0])
            repo = hub.repos.get(match.group(1)) if match else None
            if repo is None or match.group(3) not in repo["files"]:
                return self._send(404, b"", {"X-Error-Code": "EntryNotFound"})
            data = repo["files"][match.group(3)]
            start = 0
            if body and (wanted := self.headers.get("Range")):
                start = int(re.match(r"bytes=(\d+)-", wanted).group(1))
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("X-Repo-Commit", repo["sha"])
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            if body:
                self.wfile.write(data[start:])

    return Handler
