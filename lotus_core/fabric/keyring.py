"""A key directory as one object: public keys for verifiers, private keys for signers.

The router verifies with every module's public key and must notice a key published after
it started (a module's first run creates its key); a handler signs its replies with its own
module's private key. Both read the same directory, so both take a `Keyring`:

    keys = Keyring(settings.home / "keys")
    keys.public_keys()             # {module: Ed25519PublicKey}, cached
    keys.public_keys(reload=True)  # re-read keys.pub.yaml (an unknown sender appeared)
    keys.private_key("sig")        # generated on first use (signing.load_or_create_private_key)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lotus_core.fabric.signing import (
    default_key_dir,
    load_or_create_private_key,
    load_public_keys,
)


class Keyring:
    """The keys of one key directory (default `$LOTUS_HOME/keys`), loaded lazily."""

    def __init__(self, key_dir: Path | str | None = None) -> None:
        self.key_dir = Path(key_dir) if key_dir is not None else default_key_dir()
        self._public: dict[str, Ed25519PublicKey] | None = None
        self._private: dict[str, Ed25519PrivateKey] = {}

    def __repr__(self) -> str:
        return f"Keyring({str(self.key_dir)!r})"

    def public_keys(self, *, reload: bool = False) -> dict[str, Ed25519PublicKey]:
        if self._public is None or reload:
            self._public = load_public_keys(self.key_dir)
        return self._public

    def private_key(self, module: str) -> Ed25519PrivateKey:
        if module not in self._private:
            self._private[module] = load_or_create_private_key(module, self.key_dir)
        return self._private[module]


class StaticKeys(Keyring):
    """A fixed mapping of public keys (tests, benchmarks, a verifier on another host)."""

    def __init__(self, public: Mapping[str, Ed25519PublicKey]) -> None:
        super().__init__(Path("/nonexistent-static-keys"))
        self._public = dict(public)

    def public_keys(self, *, reload: bool = False) -> dict[str, Ed25519PublicKey]:
        return self._public or {}

    def private_key(self, module: str) -> Ed25519PrivateKey:
        raise KeyError(f"static public keys hold no private key (asked for {module!r})")


def as_keyring(keys: Keyring | Mapping[str, Ed25519PublicKey] | Path | str | None) -> Keyring:
    """Accept a Keyring, a {module: public key} mapping, a key directory or None (default)."""
    if isinstance(keys, Keyring):
        return keys
    if isinstance(keys, Mapping):
        return StaticKeys(keys)
    return Keyring(keys)
