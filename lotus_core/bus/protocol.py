"""What a subscriber asks for: its token and the seq to resume after, or a Refusal.

Two ways to ask, for clients that can and cannot set headers:

    GET /?since=41  with  Authorization: Bearer <token>     (the handshake says it all)
    GET /  then the first message  {"op": "hello", "token": "<token>", "since": 41}

`since` is the last seq the subscriber received: it is sent every frame after it. Without
`since` a subscriber starts at the head (new signals only); `since=0` replays everything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from lotus_core.bus.frames import CLOSE_BAD_REQUEST


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: a machine code, the message, and the close code."""

    code: str
    reason: str
    close_code: int = CLOSE_BAD_REQUEST


@dataclass(frozen=True)
class Hello:
    token: str | None
    since: int | None


def parse_since(value: object) -> int | None | Refusal:
    """`since` from a query string or a hello: None (absent), an int >= 0, or a Refusal."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return Refusal("bad_since", f"since must be an integer >= 0, got {value!r}")
    if isinstance(value, int):
        seq = value
    elif isinstance(value, str) and value.isdigit():
        seq = int(value)
    else:
        return Refusal("bad_since", f"since must be an integer >= 0, got {value!r}")
    if seq < 0:
        return Refusal("bad_since", f"since must be an integer >= 0, got {seq}")
    return seq


def query_since(path: str) -> int | None | Refusal:
    """`since` from a request path such as `/?since=41`."""
    values = parse_qs(urlsplit(path).query, keep_blank_values=True).get("since")
    if values and len(values) > 1:
        return Refusal("bad_since", f"since given {len(values)} times")
    return parse_since(values[0] if values else None)


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (None when absent)."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def parse_hello(text: str | bytes) -> Hello | Refusal:
    """A hello message, or a Refusal naming what is wrong with it."""
    try:
        body = json.loads(text)
    except ValueError:
        return Refusal("bad_hello", "the first message must be JSON: "
                       '{"op": "hello", "token": ..., "since": ...}')
    if not isinstance(body, dict) or body.get("op") != "hello":
        return Refusal("bad_hello", 'the first message must be {"op": "hello", ...}')
    token = body.get("token")
    if token is not None and not isinstance(token, str):
        return Refusal("bad_hello", "hello.token must be a string")
    since = parse_since(body.get("since"))
    if isinstance(since, Refusal):
        return since
    return Hello(token, since)
