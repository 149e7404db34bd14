"""OpenAI-compatible servers on loopback for the remote tests and benchmarks/bench_remote.py:
llama-cpp-python's (through serve_llama_cpp.py) and llama.cpp's own llama-server."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(command: list[str], log: Path, ready_path: str) -> tuple[subprocess.Popen, str]:
    """Start a server on a free loopback port (``{port}`` in ``command``); wait until ``ready_path``
    answers 200."""
    port = free_port()
    with open(log, "wb") as handle:  # a file, not a pipe: nobody reads the server's (long) log
        proc = subprocess.Popen([part.format(port=port) for part in command], stdout=handle, stderr=handle)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(Path(log).read_text(errors="replace")[-2000:])
        try:
            urllib.request.urlopen(url + ready_path, timeout=1).read()
            return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{command[0]} did not start: {log}")


def start_llama_cpp_python(model: Path, log: Path, *, threads: int = 1, n_ctx: int = 4096):
    """llama-cpp-python's server."""
    return launch([sys.executable, str(HERE / "serve_llama_cpp.py"), "--model", str(model), "--host", "127.0.0.1",
                   "--port", "{port}", "--n_ctx", str(n_ctx), "--n_threads", str(threads), "--n_threads_batch",
                   str(threads), "--verbose", "False"], log, "/v1/models")


def llama_server_binary() -> str | None:
    """llama.cpp's own server, where one is at hand: $EDGEJUDGE_LLAMA_SERVER or on PATH (docs/servers.md
    says how to build it from the llama.cpp that llama-cpp-python vendors)."""
    return os.environ.get("EDGEJUDGE_LLAMA_SERVER") or shutil.which("llama-server")


def start_llama_server(binary: str, model: Path, log: Path, *, slots: int = 2, threads: int = 1,
                       n_ctx: int = 8192):
    # --no-repack: the AMX-safe setting, as edgejudge loads models; several slots, so that
    # concurrent requests really run side by side. /health answers 503 until the model is loaded.
    return launch([binary, "-m", str(model), "--host", "127.0.0.1", "--port", "{port}", "-c", str(n_ctx),
                   "-np", str(slots), "-t", str(threads), "-tb", str(threads), "--no-repack", "--no-webui",
                   "--seed", "0"], log, "/health")


class RawStub:
    """A loopback HTTP/1.1 server (keep-alive) whose every answer a test scripts byte by byte:
    ``answer(method, path, headers, body) -> (status, headers, body_bytes, drip_seconds)``; with
    ``drip_seconds`` the status line, headers and body are sent one byte at a time. It records each
    request (method, path, headers) and counts the connections it accepted."""

    def __init__(self, answer):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[tuple[str, str, dict]] = []
        self.connections = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                stub.connections += 1

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                stub.requests.append((self.command, self.path, dict(self.headers)))
                status, headers, data, drip = answer(self.command, self.path, dict(self.headers), body)
                head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                head += f"Content-Length: {len(data)}\r\n\r\n"
                raw = head.encode() + data
                try:
                    if drip:
                        for i in range(len(raw)):
                            self.wfile.write(raw[i:i + 1])
                            self.wfile.flush()
                            time.sleep(drip)
                    else:
                        self.wfile.write(raw)
                except OSError:
                    self.close_connection = True

            do_GET = do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
