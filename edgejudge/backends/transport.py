"""HTTP for the remote backend: one request with a total deadline, a redirect policy that never
carries credentials to another origin, and connections kept open between requests.

Why the standard library (``http.client``) and not an HTTP client package: the three things the
remote backend needs are each a few lines here, and no client gives the first one. A deadline for
the whole request (connect, send, status line, headers, body) is not a socket timeout: a server
that sends one byte every half second never lets a per-read timeout expire. urllib, httpx and
urllib3 all time each operation, so a watchdog is needed whichever is used; here it shuts the
socket down when the deadline passes, which wakes any blocked read at once. Redirects are
followed by hand (``Authorization`` is dropped whenever the origin changes, and a POST is never
turned into a GET), and connections are kept per thread and per origin. No new dependency.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass

REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 5
MAX_BODY = 64 << 20  # an answer of judge completions is kilobytes; more is a broken server


class DeadlinePassed(Exception):
    """The request's total deadline passed (raised by :meth:`Connections.request`)."""


class RedirectRefused(Exception):
    """A redirect edgejudge will not follow (its message says why)."""


class BodyTooLarge(Exception):
    """The answer's body is larger than :data:`MAX_BODY`."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    url: str


def origin(url: str) -> tuple[str, str, int]:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


class Connections:
    """Keep-alive connections, one per origin and thread (http.client connections are not
    thread-safe; the remote backend sends requests from several threads)."""

    def __init__(self):
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()

    def _pool(self) -> dict:
        if not hasattr(self._local, "pool"):
            self._local.pool = {}
        return self._local.pool

    def _connection(self, key: tuple[str, str, int], timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        pool = self._pool()
        conn = pool.get(key)
        if conn is not None:
            return conn, True
        scheme, host, port = key
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        pool[key] = conn
        with self._lock:
            self._all.append(conn)
        return conn, False

    def _drop(self, key) -> None:
        conn = self._pool().pop(key, None)
        if conn is not None:
            conn.close()
            with self._lock:
                if conn in self._all:
                    self._all.remove(conn)

    def request(self, method: str, url: str, body: bytes | None, headers: dict[str, str], *,
                timeout: float) -> Answer:
        """Send one request, following redirects, within ``timeout`` seconds in all."""
        deadline = time.monotonic() + timeout
        start_origin = origin(url)
        headers = dict(headers)
        for _ in range(MAX_REDIRECTS + 1):
            answer = self._once(method, url, body, headers, deadline)
            if answer.status not in REDIRECTS or "Location" not in answer.headers:
                return answer
            target = urllib.parse.urljoin(url, answer.headers["Location"])
            if urllib.parse.urlsplit(target).scheme not in ("http", "https"):
                raise RedirectRefused(f"a redirect to {target!r}, not an http(s) URL")
            if method != "GET" and answer.status in (301, 302, 303):
                # These turn a POST into a GET in browsers: a completion would be lost, not sent.
                raise RedirectRefused(f"a {answer.status} redirect of a {method} to {target}; "
                                      "give the final address as --base-url")
            if origin(target) != start_origin:
                # Credentials are for the server the user named, never for where it points.
                headers = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "cookie")}
            url = target
        raise RedirectRefused(f"more than {MAX_REDIRECTS} redirects")

    def _once(self, method: str, url: str, body: bytes | None, headers: dict[str, str], deadline: float) -> Answer:
        key = origin(url)
        parts = urllib.parse.urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for attempt in (1, 2):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlinePassed()
            conn, reused = self._connection(key, remaining)
            conn.timeout = remaining  # bounds the connect; the watchdog bounds the rest
            fired = threading.Event()

            def expire(conn=conn, fired=fired):
                fired.set()
                sock = conn.sock
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

            watchdog = threading.Timer(remaining, expire)
            watchdog.daemon = True
            watchdog.start()
            try:
                if conn.sock is not None:
                    conn.sock.settimeout(remaining)
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = _read(response)
                if response.will_close:
                    self._drop(key)
                return Answer(response.status, response.headers, data, url)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._drop(key)
                if fired.is_set():
                    raise DeadlinePassed() from None
                if reused and attempt == 1:
                    continue  # the server closed an idle kept-alive connection: once more, on a new one
                raise
            except BaseException:
                self._drop(key)
                if fired.is_set():
                    raise DeadlinePassed() from None
                raise
            finally:
                watchdog.cancel()
        raise AssertionError("unreachable")


def _read(response: http.client.HTTPResponse) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > MAX_BODY):
        raise BodyTooLarge(f"{int(declared):,} bytes" if len(declared) <= 18 else f"a {len(declared):,}-digit number of bytes")
    chunks, total = [], 0
    while chunk := response.read1(1 << 16):
        total += len(chunk)
        if total > MAX_BODY:
            raise BodyTooLarge(f"more than {MAX_BODY:,} bytes")
        chunks.append(chunk)
    chunks.append(response.read())  # b"", and marks the response done so the connection can be reused
    return b"".join(chunks)
