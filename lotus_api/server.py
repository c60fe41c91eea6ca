"""Serving the app with uvicorn: in the foreground (`lotus curator serve`) or on a thread
with a socket the caller bound (tests bind 127.0.0.1:0 and read the port back)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from lotus_api.app import ApiConfig, build_app


def _server(cfg: ApiConfig, host: str, port: int, log_level: str) -> uvicorn.Server:
    config = uvicorn.Config(build_app(cfg), host=host, port=port, log_level=log_level,
                            access_log=False, lifespan="off")
    return uvicorn.Server(config)


def serve(cfg: ApiConfig, host: str = "127.0.0.1", port: int = 8765,
          log_level: str = "info") -> None:
    """Run until interrupted (uvicorn handles SIGINT/SIGTERM)."""
    _server(cfg, host, port, log_level).run()


@contextmanager
def serving_in_thread(cfg: ApiConfig, host: str = "127.0.0.1", *,
                      start_timeout_s: float = 10.0) -> Iterator[str]:
    """A real uvicorn server on a free loopback port, on a thread; yields its base URL and
    stops it (and waits for it) on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = _server(cfg, host, port, "warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="curator-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the Curator API did not start on {host}:{port}")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
