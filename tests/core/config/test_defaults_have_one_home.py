"""Every default is given once: by the typed settings models (`Settings` and its sections).

No packaged YAML repeats them as a settings layer, and `lotus config --explain` names a
source for every key, "default" for the models' own values.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import lotus_core.config
from lotus_cli.main import cli
from lotus_core.config.settings import (
    _ENV,
    DEFAULT_SOURCE,
    Settings,
    _leaves,
    explain_settings,
    settings_layers,
)

CONFIG_PACKAGE = Path(lotus_core.config.__file__).resolve().parent
MODEL_DEFAULTS = _leaves(Settings().model_dump(mode="json"))


@pytest.fixture
def no_user_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with no ./lotus.yaml, and no LOTUS_* variable that names a layer."""
    monkeypatch.chdir(tmp_path)
    for var in (*_ENV, "LOTUS_CONFIG", "LOTUS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_the_config_package_ships_no_settings_file() -> None:
    shipped = sorted(p.relative_to(CONFIG_PACKAGE).as_posix()
                     for p in CONFIG_PACKAGE.rglob("*") if p.suffix in (".yaml", ".yml"))
    assert shipped == [], (f"lotus_core/config ships {shipped}: a default belongs on its "
                           "field in the settings models, not in a second file")


def test_with_no_user_input_no_layer_sets_anything(no_user_settings: Path) -> None:
    """The models are the lowest layer: a packaged defaults layer, whether it repeats a model
    value or silently replaces it, is a second home for that default."""
    layers, path = settings_layers(env={})
    assert path is None
    set_by_layers = {name: _leaves(body) for name, body in layers if body}
    repeated = {name: sorted(k for k, v in leaves.items() if MODEL_DEFAULTS.get(k) == v)
                for name, leaves in set_by_layers.items()}
    assert set_by_layers == {}, f"layers set keys with no user input; model values repeated: " \
                                f"{repeated}"


def test_explain_names_the_models_as_the_source_of_every_unset_value(
        no_user_settings: Path) -> None:
    rows = explain_settings(env={})
    assert [k for k, _, _ in rows] == list(MODEL_DEFAULTS)  # every key, once
    assert {k: v for k, v, _ in rows} == MODEL_DEFAULTS
    assert {src for _, _, src in rows} == {DEFAULT_SOURCE}

    cfg = no_user_settings / "lotus.yaml"
    cfg.write_text("dsi:\n  history_days: 2\n")
    rows = explain_settings(env={})
    sources = {k: src for k, _, src in rows}
    assert sources.pop("dsi.history_days") == "lotus.yaml"
    assert set(sources.values()) == {DEFAULT_SOURCE}


def test_the_command_gives_every_key_a_source_and_says_where_defaults_live(
        no_user_settings: Path) -> None:
    out = CliRunner().invoke(cli, ["config", "--explain"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert [x.split()[0] for x in lines] == list(MODEL_DEFAULTS)
    assert {x.rsplit("  ", 1)[1] for x in lines} == {DEFAULT_SOURCE}  # the source column
    helped = CliRunner().invoke(cli, ["config", "--help"])
    assert f"{DEFAULT_SOURCE} (the typed settings models)" in " ".join(helped.output.split())
