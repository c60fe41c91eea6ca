"""The committed fixtures: verified by hash, reproduced byte for byte, clean, with truth."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from lotus_core.feed.manifest import read_manifest, verify_all
from lotus_core.feed.parse import file_sha256, parse_recording
from lotus_core.feed.recordings import list_days, truth_path
from lotus_core.synth import SynthSpec, generate_days

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
MANIFEST = read_manifest(FIXTURES)


def test_committed_set_has_the_promised_shape():
    days = list_days(FIXTURES)
    assert len(days) >= 5
    first = date.fromisoformat(days[0])
    assert days == [(first + timedelta(days=i)).isoformat() for i in range(len(days))]
    assert len(MANIFEST["generator"]["coins"]) >= 3
    total = sum(p.stat().st_size for p in FIXTURES.iterdir() if p.is_file())
    assert total <= 25 * 10**6, f"fixtures are {total / 1e6:.1f} MB; the repo allows 25 MB"


def test_every_file_matches_the_manifest():
    checked = verify_all(FIXTURES)
    assert len(checked) == 2 * len(list_days(FIXTURES))


@pytest.mark.slow
def test_generator_reproduces_the_committed_bytes(tmp_path):
    gen = MANIFEST["generator"]
    generate_days(tmp_path, date.fromisoformat(gen["start"]), gen["days"], gen["coins"],
                  gen["seed"], SynthSpec.from_dict(gen["spec"]), hours=tuple(gen["hours"]))
    for name, digest in MANIFEST["files"].items():
        assert file_sha256(tmp_path / name) == digest, f"{name} differs from the committed file"


@pytest.mark.parametrize("day", list_days(FIXTURES))
def test_each_day_parses_without_dead_letters_and_plants_truth(day):
    feed = parse_recording(FIXTURES / f"{day}.jsonl.gz")
    assert feed.dead == []
    assert sorted(feed.coins) == sorted(MANIFEST["generator"]["coins"])
    assert {ch for ch, _ in feed.counts} == {"l2Book", "trades", "bbo", "activeAssetCtx",
                                            "candle"}
    assert feed.books.meta["fast"].any() and (~feed.books.meta["fast"]).any()
    truth = json.loads(truth_path(FIXTURES, day).read_text())
    assert truth["feed"]["sha256"] == feed.sha256
    kinds = Counter(p["type"] for c in truth["per_coin"].values() for p in c["patterns"])
    assert {"sweep_then_stall", "depth_vacuum", "wick_triplet"} <= set(kinds)
    effects = [e for c in truth["per_coin"].values() for e in c["effects"]]
    assert {e["context_held"] for e in effects} == {True, False}  # treated and untreated
