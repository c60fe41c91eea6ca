"""Settings layer in the documented order, and a bad value is refused naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from lotus_core.config import ConfigError, load_settings


def test_defaults_then_file_then_env_then_overrides(tmp_path):
    cfg = tmp_path / "lotus.yaml"
    cfg.write_text("feed_dir: /data/feed\nmicrotape:\n  cadence_ms: 500\n")
    s = load_settings(cfg, env={})
    assert s.feed_dir == Path("/data/feed") and s.microtape.cadence_ms == 500
    assert s.fixtures.coins == ["BTC", "ETH", "SOL"]  # untouched defaults survive the merge
    s = load_settings(cfg, env={"LOTUS_FEED_DIR": "/env/feed", "LOTUS_HOME": str(tmp_path)})
    assert s.feed_dir == Path("/env/feed") and s.home == tmp_path
    assert s.fabric == f"sqlite:///{tmp_path.resolve() / 'fabric.sqlite'}"
    s = load_settings(cfg, overrides={"feed_dir": "/flag/feed"}, env={"LOTUS_FEED_DIR": "/x"})
    assert s.feed_dir == Path("/flag/feed")


@pytest.mark.parametrize(("yaml_text", "key"), [
    ("microtape:\n  cadence_ms: 7\n", "microtape.cadence_ms"),
    ("microtape:\n  cadense_ms: 100\n", "microtape.cadense_ms"),
    ("fixtures:\n  hours: [20, 3]\n", "fixtures.hours"),
    ("verify_manifest: maybe\n", "verify_manifest"),
])
def test_bad_values_name_the_key(tmp_path, yaml_text, key):
    cfg = tmp_path / "lotus.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_settings(cfg, env={})


def test_unreadable_config_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml", env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("feed_dir: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad, env={})
