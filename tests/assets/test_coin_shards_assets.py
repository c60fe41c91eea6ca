"""`feed.coin_shards` through real Dagster runs: raw_feed and microtape_frames taken two
coin groups at a time write the same lake files, byte for byte, and the same dead letters
as the whole-day run (two days, so the second reads the first day's shards for its start)."""

import gzip
import hashlib
from pathlib import Path

from lotus_assets.day_plan import materialize_day
from lotus_assets.feed import raw_feed
from lotus_assets.microtape import microtape_frames
from lotus_core.config import load_settings
from lotus_core.store.opsdb import OpsDb
from lotus_location.definitions import build_resources

FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures"
DAYS = ("2026-01-02", "2026-01-03")


def _small_feed(out: Path) -> Path:
    """The fixture days' first 8,000 lines each, with a garbage line (a dead letter)."""
    out.mkdir()
    for day in DAYS:
        lines = gzip.decompress((FIXTURES / f"{day}.jsonl.gz").read_bytes()).splitlines(True)
        lines = lines[:4_000] + [b"not json\n"] + lines[4_000:8_000]
        (out / f"{day}.jsonl.gz").write_bytes(gzip.compress(b"".join(lines), mtime=0))
    return out


def _run(feed_dir: Path, home: Path, shards: int, instance) -> tuple[dict, list, list]:
    settings = load_settings(overrides={"home": str(home), "feed_dir": str(feed_dir),
                                        "verify_manifest": False,
                                        "feed": {"coin_shards": shards}}, env={})
    details = []
    for day in DAYS:
        r = materialize_day([raw_feed, microtape_frames], partition_key=day, instance=instance,
                            resources=build_resources(settings))
        assert r.success
        meta = r.asset_materializations_for_node("microtape_frames")[0].metadata
        assert meta["coin_shards"].value == shards
        details.append(meta["start_detail"].value)
    lake = home / "lake"
    files = {str(p.relative_to(lake)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted([*lake.glob("*/date=*/part.parquet"),
                             *lake.glob("*/date=*/coin=*/part.parquet")])}
    keys = ("line_no", "recv_ts_ms", "channel", "coin", "reason", "detail", "raw")
    with OpsDb.open(settings.fabric) as db:
        dead = [[{k: d[k] for k in keys} for d in db.dead_letters(day)] for day in DAYS]
    return files, dead, details


def test_coin_shards_write_the_same_lake_bytes(tmp_path, dagster_instance):
    feed_dir = _small_feed(tmp_path / "feed")
    whole = _run(feed_dir, tmp_path / "whole", 1, dagster_instance)
    sharded = _run(feed_dir, tmp_path / "sharded", 2, dagster_instance)
    assert len(whole[0]) == 2 + 2 * 3  # raw_feed (a day a file), microtape_frames (a coin-day
    # a file): two days of three coins
    assert sharded[0] == whole[0]
    assert sharded[1] == whole[1] and all(whole[1])
    assert sharded[2] == whole[2]
    assert (tmp_path / "sharded" / "feed_shards").is_dir()
    assert not (tmp_path / "whole" / "feed_shards").exists()
    # coin_shards 0: one coin a shard, however many the day has (the flat-memory setting)
    per_coin = _run(feed_dir, tmp_path / "per_coin", 0, dagster_instance)
    assert per_coin == whole
    stored = [int((d / "complete").read_text())
              for d in (tmp_path / "per_coin" / "feed_shards").iterdir() if d.is_dir()]
    assert len(stored) == 2 and min(stored) >= 2  # a shard per coin on each day


def test_the_nightly_schedule_keeps_the_shard_setting(tmp_path):
    """A resource's run config replaces all its fields, so the nightly run's (the feed
    directory its days read: `lotus_backfill`'s op passes it to each run) must carry them."""
    from lotus_sensors.schedules import feed_config, nightly_feed_dir

    settings = load_settings(overrides={"home": str(tmp_path), "feed": {"coin_shards": 3}},
                             env={})
    feed = feed_config(settings, nightly_feed_dir(settings))
    assert feed["coin_shards"] == 3
    assert feed["shard_dir"] == str((tmp_path / "feed_shards").resolve())


def test_a_warm_day_by_coin_from_the_shards_is_the_whole_parses(tmp_path, dagster_instance):
    """Two generated days recorded 23:00-24:00: the second starts warm from the first. Its
    coin partitions built from each coin's stored shard (one coin a shard, the warm decision
    from the previous set's index) hold the frames the whole parse gives, and say warm."""
    from datetime import date

    from lotus_core.store.lake import Lake
    from lotus_core.synth import default_spec, generate_days

    feed = tmp_path / "feed"
    generate_days(feed, date(2026, 2, 1), 2, ["BTC", "ETH"], 5, default_spec(), hours=(23, 24))
    days = ("2026-02-01", "2026-02-02")
    tapes, starts = {}, {}
    for shards in (1, 0):
        home = tmp_path / f"home{shards}"
        settings = load_settings(overrides={"home": str(home), "feed_dir": str(feed),
                                            "verify_manifest": False,
                                            "feed": {"coin_shards": shards}}, env={})
        for day in days:
            r = materialize_day([raw_feed, microtape_frames], partition_key=day,
                                instance=dagster_instance, resources=build_resources(settings))
            assert r.success
        mats = r.asset_materializations_for_node("microtape_frames")
        starts[shards] = {m.metadata["start_detail"].value for m in mats}
        tapes[shards] = Lake(home / "lake").read("microtape_frames", days[1])
    assert starts[0] == starts[1] == {f"warm from {days[0]}"}
    assert tapes[1]["coin"].nunique() == 2 and tapes[1]["rv_pctl"].notna().any()
    assert tapes[0].equals(tapes[1])
