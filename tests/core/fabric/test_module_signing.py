"""ed25519 keys per module (generated once, 0600, public keys in keys.pub.yaml) and
envelope signatures."""

from __future__ import annotations

import json
import random
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lotus_core.fabric.examples import example_envelope
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.signing import (
    PUBLIC_KEYS_FILE,
    SigningKeyError,
    default_key_dir,
    ensure_keys,
    load_or_create_private_key,
    load_public_keys,
    private_key_path,
    public_key_text,
    sign,
    verify,
)
from lotus_core.fabric.ulid import UlidFactory


def ids(seed: int = 1) -> UlidFactory:
    return UlidFactory(lambda: 1_737_892_800.0, random.Random(seed).randbytes)


def test_keys_are_generated_once_private_and_listed(tmp_path: Path) -> None:
    key_dir = tmp_path / "home" / "keys"
    key = load_or_create_private_key("sig", key_dir)
    path = private_key_path(key_dir, "sig")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    again = load_or_create_private_key("sig", key_dir)
    assert public_key_text(again.public_key()) == public_key_text(key.public_key())

    pub = yaml.safe_load((key_dir / PUBLIC_KEYS_FILE).read_text())
    assert pub["keys"]["sig"]["alg"] == "ed25519"
    assert pub["keys"]["sig"]["public_key"] == public_key_text(key.public_key())
    assert "PRIVATE" not in (key_dir / PUBLIC_KEYS_FILE).read_text()
    # The map names the companion file the public keys are listed in.
    assert load_modules().map.public_keys_file == PUBLIC_KEYS_FILE

    ensure_keys(MODULES, key_dir)
    keys = load_public_keys(key_dir)
    assert sorted(keys) == sorted(MODULES)
    assert public_key_text(keys["sig"]) == public_key_text(key.public_key())


def test_default_key_dir_is_under_lotus_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LOTUS_HOME", str(tmp_path / "lh"))
    assert default_key_dir() == tmp_path / "lh" / "keys"
    gitignore = (Path(__file__).resolve().parents[3] / ".gitignore").read_text().split()
    assert "/keys/" in gitignore and ".lotus/" in gitignore  # never committed


CHILD = """
import sys, time
from pathlib import Path
from lotus_core.fabric.signing import load_or_create_private_key, public_key_text
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
print(public_key_text(load_or_create_private_key("dm", Path(sys.argv[1])).public_key()))
"""


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    import time

    start = str(time.time() + 0.8)
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "keys"), start],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        outs.append(out.strip())
    assert len(set(outs)) == 1
    assert public_key_text(load_public_keys(tmp_path / "keys")["dm"]) == outs[0]


def test_a_world_readable_or_foreign_key_file_is_refused(tmp_path: Path) -> None:
    load_or_create_private_key("tr", tmp_path)
    path = private_key_path(tmp_path, "tr")
    path.chmod(0o644)
    with pytest.raises(SigningKeyError, match="readable by others"):
        load_or_create_private_key("tr", tmp_path)
    path.write_text("not a key")
    path.chmod(0o600)
    with pytest.raises(SigningKeyError, match="cannot read the private key"):
        load_or_create_private_key("tr", tmp_path)
    (tmp_path / PUBLIC_KEYS_FILE).write_text(
        "version: 1\nkeys:\n  sig: {alg: ed25519, public_key: 'bm90IGEga2V5'}\n"
    )
    with pytest.raises(SigningKeyError, match="keys.sig: not a valid ed25519"):
        load_public_keys(tmp_path)


def test_sign_and_verify(tmp_path: Path) -> None:
    keys = {m: load_or_create_private_key(m, tmp_path) for m in ("sig", "dm")}
    public = load_public_keys(tmp_path)
    env = example_envelope("sig", "ALPHA_PROPOSED", 4, new_id=ids())
    assert not verify(env, public)  # unsigned
    signed = sign(env, keys["sig"])
    assert signed["sig"].startswith("ed25519:") and env["sig"] is None  # a copy
    assert verify(signed, public)
    assert sign(env, keys["sig"]) == signed  # ed25519 is deterministic

    tampered = json.loads(json.dumps(signed))
    tampered["payload"]["sigbus"]["signal"] = 0.99
    assert not verify(tampered, public)  # content changed, hash stale
    rehashed = sign(tampered, keys["dm"])  # re-signed by the wrong module
    assert not verify(rehashed, public)
    assert not verify({**signed, "from": "dm"}, public)  # claims another sender
    assert not verify(signed, {"dm": public["dm"]})  # sender's key unknown
    assert not verify({**signed, "sig": "ed25519:" + "A" * 86 + "=="}, public)
    assert not verify({**signed, "sig": "ed25519:!!"}, public)
    assert not verify({**signed, "sig": 7}, public)
    assert not verify("not a dict", public)  # type: ignore[arg-type]
    other = Ed25519PrivateKey.generate()
    assert not verify(sign(env, other), public)
