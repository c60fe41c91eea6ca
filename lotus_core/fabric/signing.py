"""ed25519 signatures on envelopes, and the per-module keys they use.

Keys live in a key directory (default `<LOTUS_HOME>/keys/`, never in git):

    keys/sig.ed25519.pem    private key of module sig, PKCS#8 PEM, mode 0600 (dir 0700)
    keys/keys.pub.yaml      every module's public key: the file models.map.yaml names
                            (`security.public_keys`), safe to copy to any host that verifies

A module's key is generated the first time it is asked for; creation is atomic (the file
is linked into place, never overwritten) and serialised with a lock file, so processes
starting together agree on one key. Verifiers read only keys.pub.yaml.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lotus_core.fabric.envelope import signing_bytes
from lotus_core.fabric.names import check_module

PUBLIC_KEYS_FILE = "keys.pub.yaml"
SIG_PREFIX = "ed25519:"


class SigningKeyError(Exception):
    """A key file is missing, unreadable or not what it claims to be."""


def default_key_dir() -> Path:
    """`$LOTUS_HOME/keys` (LOTUS_HOME defaults to ./.lotus, as in the settings)."""
    return Path(os.environ.get("LOTUS_HOME", ".lotus")) / "keys"


def private_key_path(key_dir: Path, module: str) -> Path:
    return Path(key_dir) / f"{check_module(module)}.ed25519.pem"


def public_key_text(key: Ed25519PublicKey) -> str:
    """Base64 of the 32 raw public-key bytes (the form keys.pub.yaml lists)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:16]


@contextlib.contextmanager
def locked_key_dir(key_dir: Path, lock_name: str = ".lock") -> Iterator[None]:
    """An exclusive lock on a key directory (created 0700): the module keys and the Curator
    API's curator keys each serialise their writers with one."""
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(key_dir, 0o700)
    fd = os.open(key_dir / lock_name, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int, *, replace: bool) -> None:
    """`data` at `path` with `mode`, whole or not at all (fsynced, then renamed or linked)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if another process won the race: keep theirs
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def read_private_key(path: Path) -> Ed25519PrivateKey:
    """An ed25519 private key file (PKCS#8 PEM), refused when others can read it."""
    path = Path(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"cannot read the private key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} is not an ed25519 private key")
    if path.stat().st_mode & 0o077:
        raise SigningKeyError(f"{path} is readable by others; chmod 600 it")
    return key


def load_or_create_private_key(module: str, key_dir: Path | None = None) -> Ed25519PrivateKey:
    """`module`'s signing key, generated (and listed in keys.pub.yaml) on first use."""
    key_dir = Path(key_dir) if key_dir is not None else default_key_dir()
    path = private_key_path(key_dir, module)
    if path.exists():
        key = read_private_key(path)
        if module not in _read_public_file(key_dir):
            with locked_key_dir(key_dir):
                _publish(key_dir, {module: key.public_key()})
        return key
    with locked_key_dir(key_dir):
        if not path.exists():
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            with contextlib.suppress(FileExistsError):
                write_atomic(path, pem, 0o600, replace=False)
        key = read_private_key(path)
        _publish(key_dir, {module: key.public_key()})
    return key


def ensure_keys(modules: Iterable[str], key_dir: Path | None = None) -> dict[str, Ed25519PublicKey]:
    """Make sure every module in `modules` has a key; returns their public keys."""
    return {m: load_or_create_private_key(m, key_dir).public_key() for m in modules}


def _read_public_file(key_dir: Path) -> dict[str, Any]:
    path = Path(key_dir) / PUBLIC_KEYS_FILE
    if not path.exists():
        return {}
    try:
        body = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SigningKeyError(f"cannot read {path}: {exc}") from exc
    keys = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(keys, dict):
        raise SigningKeyError(f"{path}: expected a mapping with a 'keys' mapping of module -> key")
    return keys


def _publish(key_dir: Path, new: Mapping[str, Ed25519PublicKey]) -> None:
    # Caller holds the lock: read, merge, rewrite atomically.
    keys = dict(_read_public_file(key_dir))
    for module, key in new.items():
        text = public_key_text(key)
        if keys.get(module, {}).get("public_key") == text:
            continue
        keys[module] = {
            "alg": "ed25519",
            "public_key": text,
            "fingerprint": fingerprint(key),
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    body = {
        "version": 1,
        "note": "Public keys of the Lotus modules' ed25519 envelope-signing keys. Generated.",
        "keys": dict(sorted(keys.items())),
    }
    text = yaml.safe_dump(body, sort_keys=False)
    write_atomic(Path(key_dir) / PUBLIC_KEYS_FILE, text.encode("utf-8"), 0o644, replace=True)


def load_public_keys(key_dir: Path | None = None) -> dict[str, Ed25519PublicKey]:
    """Module -> public key, from `<key_dir>/keys.pub.yaml` (empty if there is none yet)."""
    key_dir = Path(key_dir) if key_dir is not None else default_key_dir()
    out: dict[str, Ed25519PublicKey] = {}
    for module, entry in _read_public_file(key_dir).items():
        check_module(module)
        try:
            if entry["alg"] != "ed25519":
                raise ValueError(f"unsupported alg {entry['alg']!r}")
            raw = base64.b64decode(entry["public_key"], validate=True)
            out[module] = Ed25519PublicKey.from_public_bytes(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise SigningKeyError(
                f"{Path(key_dir) / PUBLIC_KEYS_FILE}: keys.{module}: not a valid ed25519 "
                f"public key entry: {exc}"
            ) from exc
    return out


def sign(envelope: Mapping[str, Any], private_key: Ed25519PrivateKey) -> dict[str, Any]:
    """A copy of `envelope` with its hash recomputed and `sig` set by `private_key`."""
    signed = dict(envelope)
    body = signing_bytes(signed)  # the hash and sig are not in it: encoded once for both
    signed["hash"] = "sha256:" + hashlib.sha256(body).hexdigest()
    signature = private_key.sign(body)
    signed["sig"] = SIG_PREFIX + base64.b64encode(signature).decode("ascii")
    return signed


def verify(envelope: Mapping[str, Any], public_keys: Mapping[str, Ed25519PublicKey]) -> bool:
    """True iff `envelope` carries a valid signature by its sender's key over its content.

    False for: no signature, unknown sender, malformed signature, a hash that does not match
    the content, or a signature by another key. Never raises on bad input.
    """
    try:
        sig = envelope.get("sig")
        # ignore: a missing "from" looks up None, which finds no key: refused below.
        key = public_keys.get(envelope.get("from"))  # type: ignore[arg-type]
        if not isinstance(sig, str) or not sig.startswith(SIG_PREFIX) or key is None:
            return False
        signature = base64.b64decode(sig[len(SIG_PREFIX) :], validate=True)
        body = signing_bytes(envelope)
        if envelope.get("hash") != "sha256:" + hashlib.sha256(body).hexdigest():
            return False
        key.verify(signature, body)
        return True
    except (InvalidSignature, ValueError, TypeError, AttributeError):
        return False
