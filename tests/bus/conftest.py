"""Fixtures of the Signal Bus tests: a fabric with a key directory, signals published through
the real `publish_alpha`, subscribers with real tokens, and a bus server on loopback."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lotus_bus.server import BusConfig, BusThread
from lotus_core.bus.auth import SubscriberBook
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.publish import publish_alpha
from lotus_core.store.opsdb import OpsDb


def sigbus_doc(i: int) -> dict:
    """A valid sigbus-1.0.0 document, distinct per `i` (its as-of time moves 1 s per i)."""
    h = "sha256:" + hashlib.sha256(str(i).encode()).hexdigest()
    asof = datetime.fromtimestamp(1_767_225_600 + i, UTC)  # 2026-01-01T00:00:00Z + i s
    return {
        "schema_ver": "sigbus-1.0.0", "asof_ts": asof.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "detector_id": "sweep_flow_v1", "symbol": ("BTC", "ETH", "SOL")[i % 3], "horizon": "60s",
        "signal": round((i % 21) / 10 - 1.0, 3), "det_sigma": 0.5, "curated_sigma": 0.55,
        "eligibility": {"publish": True, "vetoes": [], "gates": {"kr_hbar": 0.6}},
        "provenance": {"window": "2025-12-01..2025-12-31", "recipe_hash": h, "data_fingerprint": h},
        "card_ref": "detector_cards/sweep_flow_v1.md",
    }


class Publisher:
    """Publishes numbered sigbus documents through the real fabric path."""

    def __init__(self, fabric: OpsDb, keys: Keyring) -> None:
        self.fabric, self.keys, self.n = fabric, keys, 0

    def publish(self, count: int) -> list[int]:
        """Publish `count` new signals; returns their sig_outbox seqs."""
        docs = [sigbus_doc(self.n + k) for k in range(count)]
        self.n += count
        assert publish_alpha(self.fabric, docs, self.keys, models_map=load_modules().map) == count
        with self.fabric.transaction() as tx:
            rows = tx.query("SELECT seq FROM sig_outbox WHERE intent = 'ALPHA_PROPOSED'"
                            " ORDER BY seq DESC LIMIT ?", (count,))
        return sorted(int(r["seq"]) for r in rows)


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def publisher(fabric: OpsDb, key_dir: Path) -> Publisher:
    return Publisher(fabric, Keyring(key_dir))


@pytest.fixture
def tokens(key_dir: Path) -> dict[str, str]:
    book = SubscriberBook(key_dir)
    return {name: book.add(name) for name in ("alpha", "beta", "slow")}


def bus_config(fabric: OpsDb, key_dir: Path, **kw: object) -> BusConfig:
    base: dict = {"fabric_url": fabric.url,  # the test servers have no password to mask
                  "key_dir": key_dir, "port": 0, "poll_s": 0.005, "heartbeat_s": 0.5}
    return BusConfig(**{**base, **kw})


@pytest.fixture
def bus(fabric: OpsDb, key_dir: Path, tokens: dict[str, str]) -> Iterator[BusThread]:
    with BusThread(bus_config(fabric, key_dir)) as thread:
        yield thread
