"""Enrolled curators: who they are, which council roles they hold, and their public keys.

A curator is a person (or a tool acting for one) with an ed25519 key. The server verifies
with `<key_dir>/curators.pub.yaml` only (no secret in it; copy it to the API's host):

    version: 1
    curators:
      alice: {roles: [leakage, explainability], alg: ed25519,
              public_key: <base64 of 32 raw bytes>, fingerprint: sha256:...}

`enroll` makes a key (`<key_dir>/curators/<id>.ed25519.pem`, mode 0600: the curator keeps
it) and lists it. Module keys (signing.py) sign envelopes; these sign requests: separate
files, the same primitives (`public_key_text`, `fingerprint`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lotus_core.curators.config import CURATORS
from lotus_core.fabric.signing import (
    SigningKeyError,
    fingerprint,
    locked_key_dir,
    public_key_text,
    read_private_key,
    write_atomic,
)

REGISTRY_FILE = "curators.pub.yaml"
CURATOR_ID = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Curator:
    curator_id: str
    roles: frozenset[str]
    public_key: Ed25519PublicKey
    fingerprint: str


def check_curator_id(curator_id: str) -> str:
    if not isinstance(curator_id, str) or not CURATOR_ID.match(curator_id):
        raise ValueError(f"curator id {curator_id!r} must match {CURATOR_ID.pattern}")
    return curator_id


def registry_path(key_dir: Path) -> Path:
    return Path(key_dir) / REGISTRY_FILE


def private_key_path(key_dir: Path, curator_id: str) -> Path:
    return Path(key_dir) / "curators" / f"{check_curator_id(curator_id)}.ed25519.pem"


def _parse(body: Any, where: str) -> dict[str, Curator]:
    entries = body.get("curators") if isinstance(body, dict) else None
    if not isinstance(entries, dict):
        raise SigningKeyError(f"{where}: expected a mapping with a 'curators' mapping")
    out: dict[str, Curator] = {}
    for cid, entry in entries.items():
        try:
            check_curator_id(cid)
            roles = entry["roles"]
            if not isinstance(roles, list) or not roles or any(r not in CURATORS for r in roles):
                raise ValueError(f"roles must be a non-empty list of {list(CURATORS)}")
            if entry.get("alg", "ed25519") != "ed25519":
                raise ValueError(f"unsupported alg {entry['alg']!r}")
            key = Ed25519PublicKey.from_public_bytes(
                base64.b64decode(entry["public_key"], validate=True))
        except (KeyError, TypeError, ValueError) as exc:
            raise SigningKeyError(f"{where}: curators.{cid}: {exc}") from exc
        out[cid] = Curator(cid, frozenset(roles), key, fingerprint(key))
    return out


def load_curators_registry(key_dir: Path) -> dict[str, Curator]:
    """curator_id -> Curator from `<key_dir>/curators.pub.yaml` (empty when there is none)."""
    path = registry_path(key_dir)
    if not path.exists():
        return {}
    try:
        body = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SigningKeyError(f"cannot read {path}: {exc}") from exc
    return _parse(body, str(path))


def registry_from_keys(entries: Mapping[str, tuple[Iterable[str], Ed25519PublicKey]]
                       ) -> dict[str, Curator]:
    """A registry built in memory: {curator_id: (roles, public key)} (tests, benchmarks)."""
    body = {"curators": {cid: {"roles": sorted(roles), "public_key": public_key_text(key)}
                         for cid, (roles, key) in entries.items()}}
    return _parse(body, "<in memory>")


def enroll(key_dir: Path, curator_id: str, roles: Iterable[str]) -> Path:
    """Give `curator_id` a new key and `roles` (replacing any earlier entry); returns the
    private key's path, which the curator keeps and the server never reads again."""
    key_dir = Path(key_dir)
    roles = sorted(set(roles))
    if not roles or any(r not in CURATORS for r in roles):
        raise ValueError(f"roles must be a non-empty subset of {list(CURATORS)}, got {roles}")
    path = private_key_path(key_dir, curator_id)
    with locked_key_dir(key_dir, ".curators.lock"):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        write_atomic(path, key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()), 0o600, replace=True)
        reg = registry_path(key_dir)
        body = (yaml.safe_load(reg.read_text(encoding="utf-8")) or {}) if reg.exists() else {}
        entries = dict(body.get("curators") or {})
        pub = key.public_key()
        entries[curator_id] = {"roles": roles, "alg": "ed25519",
                               "public_key": public_key_text(pub), "fingerprint": fingerprint(pub)}
        note = "Curator API public keys. Generated by `lotus curator enroll`."
        text = yaml.safe_dump({"version": 1, "note": note,
                               "curators": dict(sorted(entries.items()))}, sort_keys=False)
        write_atomic(reg, text.encode("utf-8"), 0o644, replace=True)
    return path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """A curator's private key file (PKCS#8 PEM), refused when others can read it."""
    return read_private_key(path)
