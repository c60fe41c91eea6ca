"""One validated settings object; a bad value fails at start-up naming its key."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from lotus_core.coin_list import default_coins
from lotus_core.config.coins import COIN_FORM, coin_problems
from lotus_core.deploy.profile import profile_file
from lotus_core.deploy.settings import DeploySettings
from lotus_core.dm.config import DmSettings
from lotus_core.strict import StrictModel
from lotus_core.trader.config import TraderSettings
from lotus_core.yaml_io import parse_yaml

COIN_SECTIONS = (("feed", "coins"), ("dm", "coins"), ("fixtures", "coins"))
"""(section, key) of the settings that list coins and default to the coin list (the trader
venues' `symbols` too, filled venue by venue)."""


class ConfigError(ValueError):
    """A setting is missing, unknown or out of range; the message names the key."""


_Strict = StrictModel  # the one strict base (lotus_core/strict.py)


class MicroTapeSettings(_Strict):
    cadence_ms: int = Field(1000, ge=50, le=60_000)  # one frame per coin this often (1 s)
    # the timescale funding_pctl / oi_pctl are ranked on: 0, the grid's trailing 4 h; N,
    # the coin's own N days before (docs/microtape.md "Context on its own timescale")
    # (None: MicroTapeParams' own, funding 3 days, open interest 0)
    funding_rank_days: int | None = Field(None, ge=0, le=30)
    oi_rank_days: int | None = Field(None, ge=0, le=30)


class LearningSettings(_Strict):
    config: Path | None = None                 # another learning.yaml (None: the packaged one)
    # the training window in days (None: that learning.yaml's window_days)
    window_days: int | None = Field(None, ge=1, le=120)


class ScoringSettings(_Strict):
    config: Path | None = None                 # another scoring.yaml (None: the packaged one)
    # earlier detector_windows days feeding sq_* (None: that scoring.yaml's history_days)
    history_days: int | None = Field(None, ge=0, le=60)
    # also score the breeder's survivors, status exploration (docs/breeding.md)
    exploration: bool = False
    detectors: Path | None = None              # another detectors.yaml (None: the packaged one)
    curators: Path | None = None  # another curators.yaml, the council (None: the packaged one)


class DsiSettings(_Strict):
    history_days: int = Field(3, ge=1, le=60)  # earlier MicroTape days the experts are fitted on


class FixtureSettings(_Strict):
    """What `lotus fixtures generate` makes by default (the committed set)."""

    seed: int = 20260105
    start: date = date(2026, 1, 2)
    days: int = Field(5, ge=1, le=366)
    coins: list[str] = Field(default_factory=lambda: list(default_coins()), min_length=1)
    # simulated UTC hours per day, [start, end) (2 h x 3 coins x 5 days: ~20 MB)
    hours: tuple[int, int] = (12, 14)

    @field_validator("hours")
    @classmethod
    def _hours_in_day(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not 0 <= v[0] < v[1] <= 24:
            raise ValueError("hours must be [start, end) with 0 <= start < end <= 24")
        return v


from lotus_core.live.settings import FeedSettings, LiveSettings  # noqa: E402 - own section


class Settings(_Strict):
    """Every setting, each default given once, here and in the section models. A lotus.yaml
    (./lotus.yaml, or the file named by --config or LOTUS_CONFIG) names only the keys it
    changes; LOTUS_HOME, LOTUS_FEED_DIR and LOTUS_FABRIC_URL override it; CLI flags win
    (`load_settings`; `lotus config --explain` names each value's source)."""

    home: Path = Path(".lotus")  # all a run writes: lake/, fabric.sqlite, keys, daemon state
    feed_dir: Path = Path("fixtures")  # a directory of <YYYY-MM-DD>.jsonl.gz recordings
    fabric_url: str | None = None  # None: sqlite:///<home>/fabric.sqlite; or postgresql://...
    verify_manifest: bool = True  # refuse a recording whose sha256 differs from manifest.json
    # microtape, learning, scoring, dsi: values several consumers share (the CLI, the
    # schedule, the partition mappings, the assets' run config, the daemon), each read
    # once, by lotus_core.config.shared.shared_values
    microtape: MicroTapeSettings = MicroTapeSettings()
    learning: LearningSettings = LearningSettings()
    scoring: ScoringSettings = ScoringSettings()
    dsi: DsiSettings = DsiSettings()
    fixtures: FixtureSettings = FixtureSettings()
    trader: TraderSettings = TraderSettings()  # the paper Trader: lotus_core/trader/config.py
    dm: DmSettings = DmSettings()              # the Decision-Maker: lotus_core/dm/config.py
    feed: FeedSettings = FeedSettings()        # the websocket client: lotus_core/live/settings.py
    live: LiveSettings = LiveSettings()        # live scoring (the daemon's score loop)
    deploy: DeploySettings = DeploySettings()  # how the nightly chain runs
    coins: list[str] = Field(default_factory=lambda: list(default_coins()), min_length=1)
    """The coin list (default: lotus_core/coin_list.py's DEFAULT_COINS): every per-coin
    section defaults to it and may name only coins in it (`_derive_coins`, `_known_coins`)."""
    extra_coins: list[str] = Field(default_factory=list)
    """Hyperliquid perps listed after the shipped universe snapshot
    (lotus_core/venues/hyperliquid/perps.yaml; lotus_core/config/coins.py): every coin of the
    coin list is in one or the other."""

    @model_validator(mode="before")
    @classmethod
    def _derive_coins(cls, data: Any) -> Any:
        """Sections that do not name their coins take the coin list (`coins`)."""
        if not isinstance(data, dict):
            return data
        coins = data.get("coins")
        if coins is None:
            return data
        out = dict(data)
        for section, key in COIN_SECTIONS:
            body = out.get(section, {})
            if isinstance(body, dict) and key not in body:
                out[section] = {**body, key: list(coins)}
        trader = out.get("trader", {})
        if isinstance(trader, dict):
            venues = trader.get("venues")
            if venues is None:  # the packaged venues, trading the coin list
                venues = [v.model_copy(update={"symbols": list(coins)})
                          for v in TraderSettings().venues]
            elif isinstance(venues, list):
                venues = [{**v, "symbols": list(coins)}
                          if isinstance(v, dict) and "symbols" not in v else v for v in venues]
            out["trader"] = {**trader, "venues": venues}
        return out

    @field_validator("extra_coins")
    @classmethod
    def _well_formed(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if not COIN_FORM.match(c)]
        if bad:
            raise ValueError(f"not Hyperliquid perp names (BTC, kPEPE): {bad}")
        return v

    @model_validator(mode="after")
    def _known_coins(self) -> Settings:
        """The coin list names perps of the venue, and every section's coins are in it: a
        typo stops the load here, naming the key and the coin."""
        problems = [f"coins: {p}" for p in coin_problems(self.coins, self.extra_coins)]
        listed = set(self.coins)
        named = [("feed.coins", self.feed.coins), ("dm.coins", self.dm.coins),
                 ("fixtures.coins", self.fixtures.coins),
                 *((f"trader.venues[{v.name}].symbols", v.symbols) for v in self.trader.venues)]
        problems += [f"{key}: {coin!r} is not in the coin list (coins: {self.coins}); add it "
                     "to `coins`" for key, coins in named for coin in coins
                     if coin not in listed]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def fabric(self) -> str:
        return self.fabric_url or f"sqlite:///{(self.home / 'fabric.sqlite').resolve()}"


_ENV = {"LOTUS_HOME": "home", "LOTUS_FEED_DIR": "feed_dir", "LOTUS_FABRIC_URL": "fabric_url"}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_yaml(text: str, where: str) -> dict[str, Any]:
    try:
        body = parse_yaml(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML: {exc}") from exc
    if not isinstance(body, dict):
        raise ConfigError(f"{where} must be a mapping of settings")
    return body


def settings_layers(config_file: Path | None = None, overrides: dict[str, Any] | None = None,
                    env: dict[str, str] | None = None) -> tuple[list[tuple[str, dict[str, Any]]],
                                                                 Path | None]:
    """The layers the settings are merged from, lowest first, each named for `lotus config
    --explain`: $LOTUS_PROFILE's lotus.yaml, the config file (explicit, $LOTUS_CONFIG or
    ./lotus.yaml), the environment, the flags. Also the config file's path (None: none).
    Below them all are the typed models' own defaults (`Settings`), the one place a default
    is given: no layer repeats them."""
    env = dict(os.environ) if env is None else env
    layers: list[tuple[str, dict[str, Any]]] = []
    if (profile := profile_file("lotus.yaml", env)) is not None:  # LOTUS_PROFILE's layer
        layers.append((f"profile {profile}", _read_yaml(profile.read_text(), str(profile))))
    path = config_file or (Path(env["LOTUS_CONFIG"]) if env.get("LOTUS_CONFIG") else None)
    if path is None and Path("lotus.yaml").is_file():
        path = Path("lotus.yaml")
    if path is not None:
        if not Path(path).is_file():
            raise ConfigError(f"config file {path} does not exist")
        layers.append((str(path), _read_yaml(Path(path).read_text(), str(path))))
    layers += [(f"environment {var}", {key: env[var]}) for var, key in _ENV.items()
               if env.get(var)]
    layers.append(("flag", {k: v for k, v in (overrides or {}).items() if v is not None}))
    return layers, path


def load_settings(config_file: Path | None = None, overrides: dict[str, Any] | None = None,
                  env: dict[str, str] | None = None) -> Settings:
    """Model defaults < $LOTUS_PROFILE's lotus.yaml < config file (explicit, $LOTUS_CONFIG or
    ./lotus.yaml) < env < overrides."""
    layers, path = settings_layers(config_file, overrides, env)
    merged: dict[str, Any] = {}
    for _, layer in layers:
        merged = _merge(merged, layer)
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"]
            else str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        source = f" (from {path})" if path else ""
        raise ConfigError(f"invalid Lotus settings{source}: {problems}") from None


def _leaves(body: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(body, dict) and body:
        out: dict[str, Any] = {}
        for k, v in body.items():
            out.update(_leaves(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: body}


DEFAULT_SOURCE = "default"
"""`lotus config --explain`'s source of a value no layer names: the typed models' default."""


def explain_settings(config_file: Path | None = None, overrides: dict[str, Any] | None = None,
                     env: dict[str, str] | None = None) -> list[tuple[str, Any, str]]:
    """(key, effective value, where it came from) for every setting: the highest layer that
    names the key (`settings_layers`), or `DEFAULT_SOURCE` for a value no layer names, the
    typed models' default. A key under a list (venues, coins) is explained as the whole
    list."""
    layers, _ = settings_layers(config_file, overrides, env)
    settings = load_settings(config_file, overrides, env)
    values = _leaves(settings.model_dump(mode="json"))
    named = [(name, _leaves(layer)) for name, layer in layers]
    out = []
    for key, value in values.items():
        source = DEFAULT_SOURCE
        for name, leaves in named:
            if key in leaves or any(key.startswith(k + ".") for k in leaves):
                source = name
        out.append((key, value, source))
    return out
