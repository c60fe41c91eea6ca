"""The signed request: what a curator signs, how the server checks it, and replay refusal.

Every request (reads included) carries five headers:

    X-Lotus-Curator    the enrolled curator id          X-Lotus-Ts     ms since the epoch
    X-Lotus-Role       the council role acted in        X-Lotus-Nonce  16-64 chars [A-Za-z0-9_-]
    X-Lotus-Signature  ed25519:<base64> over canonical_json(message)

where `message` = {method, path, query: sorted [key, value] pairs, body: the parsed JSON body
or null, curator, role, ts, nonce}. The canonical JSON is the fabric's (sorted keys, no
spaces, integral floats as ints), so the bytes do not depend on how a client spaced its
JSON. The server refuses (401) a missing header, an unknown curator, a bad signature, a
timestamp outside +-skew of its clock, and a nonce it has seen (per curator) within the
window; an accepted action's nonce is also unique in curator_actions, so a replay cannot
land even after a restart. A role the curator does not hold is 403.
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lotus_core.curator_api.keys import Curator
from lotus_core.curator_api.rules import Refused, check_role
from lotus_core.fabric.envelope import canonical_json
from lotus_core.fabric.signing import SIG_PREFIX

H_CURATOR, H_ROLE, H_TS, H_NONCE, H_SIG = (
    "x-lotus-curator", "x-lotus-role", "x-lotus-ts", "x-lotus-nonce", "x-lotus-signature")
HEADERS = (H_CURATOR, H_ROLE, H_TS, H_NONCE, H_SIG)
NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
DEFAULT_SKEW_MS = 300_000  # 5 min either side of the server's clock


def message(*, method: str, path: str, query: Sequence[tuple[str, str]], body: Any,
            curator: str, role: str, ts_ms: int, nonce: str) -> dict[str, Any]:
    """The object a curator signs (and the API logs with the action)."""
    return {"method": method.upper(), "path": path,
            "query": sorted([str(k), str(v)] for k, v in query), "body": body,
            "curator": curator, "role": role, "ts": int(ts_ms), "nonce": nonce}


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def sign_request(key: Ed25519PrivateKey, *, method: str, path: str, curator: str, role: str,
                 ts_ms: int, query: Sequence[tuple[str, str]] = (), body: Any = None,
                 nonce: str | None = None) -> dict[str, str]:
    """The headers a client sends for one request (body: the JSON object it sends)."""
    nonce = nonce or new_nonce()
    msg = message(method=method, path=path, query=query, body=body, curator=curator,
                  role=role, ts_ms=ts_ms, nonce=nonce)
    sig = SIG_PREFIX + base64.b64encode(key.sign(canonical_json(msg))).decode("ascii")
    return {H_CURATOR: curator, H_ROLE: role, H_TS: str(int(ts_ms)), H_NONCE: nonce, H_SIG: sig}


class NonceCache:
    """(curator, nonce) pairs seen within the timestamp window; thread-safe.

    A nonce older than the window cannot come back (its timestamp is refused first), so
    entries are dropped once they are two windows old: memory stays bounded by the rate.
    """

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self._seen: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0

    def __len__(self) -> int:
        return len(self._seen)

    def first_use(self, curator: str, nonce: str, now_ms: int) -> bool:
        """Record the pair; False when it was already there (a replay)."""
        with self._lock:
            if now_ms >= self._next_sweep:
                cutoff = now_ms - 2 * self.window_ms
                self._seen = {k: t for k, t in self._seen.items() if t >= cutoff}
                self._next_sweep = now_ms + self.window_ms
            if (curator, nonce) in self._seen:
                return False
            self._seen[(curator, nonce)] = now_ms
            return True


@dataclass(frozen=True)
class Signed:
    """A verified request: who, in which role, and the exact message and signature."""

    curator: Curator
    role: str
    ts_ms: int
    nonce: str
    message: dict[str, Any]
    sig: str

    @property
    def curator_id(self) -> str:
        return self.curator.curator_id


def _unauthorized(code: str, reason: str) -> Refused:
    return Refused(401, code, reason)


def verify_request(registry: Mapping[str, Curator], nonces: NonceCache, *,
                   headers: Mapping[str, str], method: str, path: str,
                   query: Sequence[tuple[str, str]], body: Any, now_ms: int,
                   skew_ms: int = DEFAULT_SKEW_MS) -> Signed:
    """The verified request, or `Refused` (401 unsigned, bad signature, stale or replayed;
    403 a role the curator does not hold). The nonce is spent only by a valid signature."""
    missing = [h for h in HEADERS if not headers.get(h)]
    if missing:
        raise _unauthorized("unsigned", f"missing header(s) {missing}: every request is "
                            "signed (docs/curator_api.md)")
    curator_id, role, nonce, sig = (headers[H_CURATOR], headers[H_ROLE], headers[H_NONCE],
                                    headers[H_SIG])
    curator = registry.get(curator_id)
    if curator is None:
        raise _unauthorized("unknown_curator", f"curator {curator_id!r} is not enrolled")
    try:
        ts_ms = int(headers[H_TS])
    except ValueError:
        raise _unauthorized("bad_timestamp", f"{H_TS} must be integer ms, got "
                            f"{headers[H_TS]!r}") from None
    if not NONCE.match(nonce):
        raise _unauthorized("bad_nonce", f"{H_NONCE} must match {NONCE.pattern}")
    msg = message(method=method, path=path, query=query, body=body, curator=curator_id,
                  role=role, ts_ms=ts_ms, nonce=nonce)
    try:
        if not sig.startswith(SIG_PREFIX):
            raise ValueError("no ed25519: prefix")
        raw = base64.b64decode(sig[len(SIG_PREFIX):], validate=True)
        curator.public_key.verify(raw, canonical_json(msg))
    except (InvalidSignature, ValueError, TypeError):
        raise _unauthorized("bad_signature", f"the signature does not verify with "
                            f"{curator_id}'s key ({curator.fingerprint}) over this request"
                            ) from None
    if abs(now_ms - ts_ms) > skew_ms:
        raise _unauthorized("stale_timestamp", f"timestamp {ts_ms} is {now_ms - ts_ms:+d} ms "
                            f"from the server's clock; allowed +-{skew_ms} ms")
    if not nonces.first_use(curator_id, nonce, now_ms):
        raise _unauthorized("replayed_nonce", f"nonce {nonce!r} of {curator_id} was already "
                            "used: each request needs a fresh nonce")
    check_role(role)
    if role not in curator.roles:
        raise Refused(403, "role_not_held", f"curator {curator_id} does not hold the {role} "
                      f"role (holds {sorted(curator.roles)})")
    return Signed(curator, role, ts_ms, nonce, msg, sig)
