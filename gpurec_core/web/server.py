"""``gpurec serve``: the page and its JSON API on a standard-library HTTP server (no web framework).

Loopback by default. Static files (HTML, JS, CSS; the plot is drawn as SVG by the page's own script)
ship in ``gpurec_core/web/static``; the page requests nothing outside this server. Ctrl-C and
SIGTERM stop it cleanly: the listening socket is closed and the process exits 0.
"""

from __future__ import annotations

import mimetypes
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from gpurec_core.web.app import Api, parse_query

STATIC = Path(__file__).parent / "static"
#: Headers that keep the page to this server (no third-party requests) and out of frames.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def make_handler(api: Api) -> type[BaseHTTPRequestHandler]:
    """A request handler bound to one :class:`Api`."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "gpurec"
        error_content_type = "application/json"
        error_message_format = '{"error": "HTTP %(code)d: %(explain)s; the API answers GET only"}'

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
            if getattr(self.server, "verbose", False):
                sys.stderr.write("gpurec serve: " + (format % args) + "\n")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            from gpurec_core.formatting import finite_json

            parts = urlsplit(self.path)
            if parts.path.startswith("/api/"):
                try:
                    status, data = api.answer(parts.path, parse_query(parts.query))
                except Exception as exc:  # a bug must not leak a traceback to the page
                    status, data = 500, {"error": f"internal error ({type(exc).__name__}); see the server's log"}
                    sys.stderr.write(f"gpurec serve: {self.path}: {type(exc).__name__}: {exc}\n")
                self._send(status, finite_json(data).encode(), "application/json")
                return
            name = "index.html" if parts.path in ("/", "/index.html") else parts.path.lstrip("/")
            path = (STATIC / name).resolve()
            if STATIC.resolve() not in path.parents or not path.is_file():
                self._send(404, b'{"error": "no such page; the app is at / and the API under /api/"}',
                           "application/json")
                return
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            self._send(200, path.read_bytes(), kind + ("; charset=utf-8" if kind.startswith("text/") or
                                                       kind.endswith("javascript") else ""))

        def do_HEAD(self) -> None:  # noqa: N802
            self.do_GET()

    return Handler


def make_server(host: str = "127.0.0.1", port: int = 8000, verbose: bool = False) -> ThreadingHTTPServer:
    """The server, bound and listening (port 0: any free port; ``server.server_address`` has it)."""
    server = ThreadingHTTPServer((host, port), make_handler(Api()))
    server.daemon_threads = True
    server.verbose = verbose  # type: ignore[attr-defined]
    return server


def warm_up() -> None:
    """Load the catalogs and run one small search so the first real one answers in milliseconds."""
    from gpurec_core.queries import run_recommend

    try:
        run_recommend("Qwen/Qwen3-8B", gpus="H100")
    except Exception:  # warming is an optimisation; a failure shows on the first real request
        pass


def serve(host: str = "127.0.0.1", port: int = 8000, open_browser: bool = False, verbose: bool = False) -> None:
    """Serve until Ctrl-C or SIGTERM, then close the socket and return."""
    server = make_server(host, port, verbose)
    bound_host, bound_port = server.server_address[:2]
    url = f"http://{'127.0.0.1' if bound_host in ('0.0.0.0', '') else bound_host}:{bound_port}/"
    stop = threading.Event()

    def shut(signum: int, frame: Optional[object]) -> None:
        stop.set()
    previous = {sig: signal.signal(sig, shut) for sig in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    threading.Thread(target=warm_up, daemon=True).start()
    print(f"gpurec serve: {url} (Ctrl-C to stop)", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"gpurec serve: listening on {host}: anyone who can reach this address can use the page", flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print("gpurec serve: stopped", flush=True)
