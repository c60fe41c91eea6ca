"""The bus's pure part: tokens, what a client may ask, and frames that pass sigbus-1.0.0."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lotus_core.bus.auth import BAD, MALFORMED, MISSING, REVOKED, UNKNOWN, AuthError, SubscriberBook
from lotus_core.bus.frames import Frame, Rejected, close_reason, signal_frame
from lotus_core.bus.protocol import Hello, Refusal, bearer, parse_hello, query_since
from lotus_core.fabric.envelope import build_envelope
from lotus_core.fabric.queue import BoxRow
from tests.bus.conftest import sigbus_doc


def test_tokens_are_checked_by_name_and_secret_and_only_hashes_are_stored(tmp_path: Path):
    book = SubscriberBook(tmp_path)
    token = book.add("acme")
    other = book.add("zeta")
    assert book.check(token) == "acme" and book.check(other) == "zeta"
    text = book.path.read_text()
    assert token.split(".", 1)[1] not in text and "sha256" in text
    assert stat.S_IMODE(book.path.stat().st_mode) == 0o600
    cases = {MISSING: None, MALFORMED: "no-dot-here", UNKNOWN: "nobody.secret",
             BAD: "acme." + "x" * 43}
    for code, bad in cases.items():
        with pytest.raises(AuthError) as err:
            book.check(bad)
        assert err.value.code == code, bad
    with pytest.raises(ValueError, match="exists"):
        book.add("acme")
    with pytest.raises(ValueError, match="must match"):
        book.add("Bad Name")
    # a second book on the same file (a running server) sees a revocation and a rotation
    server_side = SubscriberBook(tmp_path)
    assert server_side.check(token) == "acme"
    assert book.revoke("acme") and not book.revoke("nobody")
    with pytest.raises(AuthError) as err:
        server_side.check(token)
    assert err.value.code == REVOKED
    rotated = book.add("acme", rotate=True)
    assert server_side.check(rotated) == "acme"
    with pytest.raises(AuthError):
        server_side.check(token)
    assert [s.name for s in book.subscribers()] == ["acme", "zeta"]


def test_since_and_hello_parse_or_say_what_is_wrong():
    assert query_since("/") is None and query_since("/?since=0") == 0
    assert query_since("/?since=41") == 41
    for path in ("/?since=-1", "/?since=abc", "/?since=1.5", "/?since=1&since=2"):
        got = query_since(path)
        assert isinstance(got, Refusal) and got.code == "bad_since", path
    assert bearer("Bearer abc.def") == "abc.def" and bearer("Basic xyz") is None
    assert parse_hello('{"op": "hello", "token": "a.b", "since": 3}') == Hello("a.b", 3)
    for text in ("not json", '{"op": "subscribe"}', '{"op": "hello", "token": 5}',
                 '{"op": "hello", "since": true}'):
        assert isinstance(parse_hello(text), Refusal), text
    assert len(close_reason("é" * 200).encode()) <= 123


def _row(seq: int, payload: dict) -> BoxRow:
    env = build_envelope(sender="sig", to=["dm"], intent="ALPHA_PROPOSED", payload=payload)
    return BoxRow("sig", "outbox", seq, env, "pending", 0, None, None, None,
                  datetime.now(UTC))


def test_frames_carry_the_seq_and_only_schema_valid_documents():
    doc = sigbus_doc(3)
    built = signal_frame(_row(7, {"sigbus": doc, "strand_id": "s"}))
    assert isinstance(built, Frame) and built.seq == 7
    body = json.loads(built.text)
    assert body["type"] == "signal" and body["seq"] == 7 and body["sigbus"] == doc
    bad = {**doc, "signal": 1.5}
    rejected = signal_frame(_row(8, {"sigbus": bad, "strand_id": "s"}))
    assert isinstance(rejected, Rejected) and "sigbus.signal" in rejected.detail
    missing = signal_frame(_row(9, {"strand_id": "s"}))
    assert isinstance(missing, Rejected) and "payload.sigbus" in missing.detail
    extra = signal_frame(_row(10, {"sigbus": {**doc, "advice": "buy"}, "strand_id": "s"}))
    assert isinstance(extra, Rejected) and "advice" in extra.detail
