"""A curator's client: an httpx client that signs every request (auth.sign_request).

    with CuratorClient(base_url, "alice", "leakage", key) as c:
        c.get("/candidates")
        c.post("/candidates/card:x:abc/sign-off", {"reason": "audits clean"})
        c.post_chart(png_bytes, coin="BTC", at="2026-01-05T09:00Z")   # POST /charts
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lotus_core.curator_api.auth import sign_request
from lotus_core.fabric.envelope import canonical_json
from lotus_core.vis.intake import chart_body


class CuratorClient:
    """Signs as `curator` acting in `role`; `clock` gives ms (tests move it)."""

    def __init__(self, base_url: str, curator: str, role: str, key: Ed25519PrivateKey, *,
                 clock: Callable[[], int] | None = None, timeout_s: float = 30.0,
                 client: httpx.Client | None = None) -> None:
        self.curator, self.role, self.key = curator, role, key
        self.clock = clock or (lambda: int(time.time() * 1000))
        self.http = client or httpx.Client(base_url=base_url, timeout=timeout_s)

    def headers(self, method: str, path: str, query: Sequence[tuple[str, str]] = (),
                body: Any = None, nonce: str | None = None) -> dict[str, str]:
        return sign_request(self.key, method=method, path=path, curator=self.curator,
                            role=self.role, ts_ms=self.clock(), query=query, body=body,
                            nonce=nonce)

    def get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        query: list[tuple[str, str | int | float | bool | None]] = sorted(
            (params or {}).items())
        return self.http.get(path, params=query,
                             headers=self.headers("GET", path, sorted((params or {}).items())))

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        content = canonical_json(body)
        headers = {**self.headers("POST", path, body=json.loads(content)),
                   "content-type": "application/json"}
        return self.http.post(path, content=content, headers=headers)

    def post_chart(self, data: bytes, **params: str) -> httpx.Response:
        """POST /charts: the image's bytes as the body, `coin` / `at` / `note` as the query;
        the signature covers the bytes' sha256 (lotus_api.routes_vis)."""
        query: list[tuple[str, str | int | float | bool | None]] = sorted(
            (k, v) for k, v in params.items() if v is not None)
        headers = {**self.headers("POST", "/charts", [(k, str(v)) for k, v in query],
                                 body=chart_body(data)),
                   "content-type": "application/octet-stream"}
        return self.http.post("/charts", params=query, content=data, headers=headers)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> CuratorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
