"""Per-subscriber tokens, kept beside the fabric keys: `<key_dir>/bus_subscribers.json`.

    book = SubscriberBook(settings.home / "keys")
    token = book.add("acme")      # "acme.<43 random url-safe chars>", shown once
    book.check(token)             # "acme", or AuthError(code, message)
    book.revoke("acme")

Only the token's sha256 is stored (a token is 256 random bits, so no salt or stretching is
needed); the file is mode 0600 and replaced atomically, and a running server sees an added
or revoked subscriber at the next connection (it re-reads the file when it changed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FILE = "bus_subscribers.json"
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

# AuthError codes (the refusal frame's `code`)
MISSING = "missing_token"
MALFORMED = "malformed_token"
UNKNOWN = "unknown_subscriber"
REVOKED = "revoked_subscriber"
BAD = "bad_token"


class AuthError(ValueError):
    """A token was refused; `code` is one of the constants above, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise ValueError(f"subscriber name {name!r} must match {NAME.pattern} "
                         "(lower case, digits, '_' or '-', at most 64)")
    return name


@dataclass(frozen=True)
class Subscriber:
    name: str
    created_at: str
    revoked_at: str | None


class SubscriberBook:
    """The subscribers of one key directory; reads the file again whenever it changed."""

    def __init__(self, key_dir: Path | str) -> None:
        self.path = Path(key_dir) / FILE
        self._stamp: tuple[int, int] | None = None
        self._entries: dict[str, dict[str, Any]] = {}

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._entries = None, {}
            return self._entries
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                body = json.loads(self.path.read_text())
            except ValueError as exc:
                raise ValueError(f"{self.path}: not JSON ({exc})") from None
            subs = body.get("subscribers") if isinstance(body, dict) else None
            if not isinstance(subs, dict):
                raise ValueError(f"{self.path}: expected a 'subscribers' mapping")
            self._entries, self._stamp = {str(k): dict(v) for k, v in subs.items()}, stamp
        return self._entries

    def _save(self, entries: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"subscribers": entries}, indent=1, sort_keys=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".bus_subscribers.")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._stamp = None

    def subscribers(self) -> list[Subscriber]:
        return [Subscriber(n, str(e.get("created_at")), e.get("revoked_at"))
                for n, e in sorted(self._load().items())]

    def add(self, name: str, *, rotate: bool = False) -> str:
        """A new token for `name` (shown once). An existing name needs `rotate=True`, which
        replaces its token (and lifts a revocation)."""
        check_name(name)
        entries = dict(self._load())
        if name in entries and not rotate:
            raise ValueError(f"subscriber {name!r} exists; rotate its token instead")
        secret = secrets.token_urlsafe(32)
        entries[name] = {"sha256": _digest(secret), "revoked_at": None,
                         "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
        self._save(entries)
        return f"{name}.{secret}"

    def revoke(self, name: str) -> bool:
        """Refuse `name` from now on; False when there is no such subscriber."""
        entries = dict(self._load())
        if name not in entries:
            return False
        entries[name] = {**entries[name],
                         "revoked_at": datetime.now(UTC).isoformat(timespec="seconds")}
        self._save(entries)
        return True

    def check(self, token: str | None) -> str:
        """The subscriber's name, or AuthError saying what was wrong with `token`."""
        if not token:
            raise AuthError(MISSING, "no token: send 'Authorization: Bearer <token>' or a "
                            "hello message {\"op\": \"hello\", \"token\": ...}")
        name, dot, secret = token.partition(".")
        if not dot or not NAME.match(name) or not secret:
            raise AuthError(MALFORMED, "malformed token: expected <subscriber>.<secret>")
        entry = self._load().get(name)
        if entry is None:
            raise AuthError(UNKNOWN, f"unknown subscriber {name!r}")
        if entry.get("revoked_at"):
            raise AuthError(REVOKED, f"subscriber {name!r} was revoked at {entry['revoked_at']}")
        if not hmac.compare_digest(_digest(secret), str(entry.get("sha256", ""))):
            raise AuthError(BAD, f"wrong token for subscriber {name!r}")
        return name
